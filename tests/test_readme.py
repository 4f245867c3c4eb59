"""The README's examples run as the README says they do."""

from __future__ import annotations

import io
import re
from argparse import Namespace
from pathlib import Path

from alerter.cli.rules import cmd_test

README = Path(__file__).resolve().parent.parent / "README.md"


def yaml_block(starts: str) -> str:
    """The README's ```yaml block that begins with `starts`."""
    (block,) = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
        if b.startswith(starts)
    ]
    return str(block)


def test_the_rule_test_example_passes_on_the_rules_example(tmp_path: Path) -> None:
    (tmp_path / "ssh.yaml").write_text(yaml_block("groups:\n  - name: ssh\n"))
    (tmp_path / "ssh.test.yaml").write_text(yaml_block("rule_files: [ssh.yaml]"))
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(tmp_path / "ssh.test.yaml")]), out) == 0, out.getvalue()
    assert "1 tests: SUCCESS" in out.getvalue()


def test_the_rule_test_examples_failure_line_is_what_a_failure_prints(tmp_path: Path) -> None:
    (tmp_path / "ssh.yaml").write_text(yaml_block("groups:\n  - name: ssh\n"))
    test = yaml_block("rule_files: [ssh.yaml]").replace("ip: 1.2.3.4,", "ip: 1.2.3.5,")
    (tmp_path / "ssh.test.yaml").write_text(test)
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(tmp_path / "ssh.test.yaml")]), out) == 1
    (head,) = re.findall(
        r"`(ssh\.test\.yaml:\d+: test .*?)`", README.read_text().replace("\n", " ")
    )
    assert f"{tmp_path / head}" in out.getvalue(), out.getvalue()
