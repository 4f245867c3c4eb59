"""Every builtin rule pack has an `alerter test` file under tests/rules/packs that passes."""

from __future__ import annotations

import io
import subprocess
import sys
from argparse import Namespace
from importlib import resources
from pathlib import Path

import pytest

from alerter.cli.rules import cmd_test

PACK_TESTS = Path(__file__).parent / "packs"
PACKS = sorted(
    f.name.removesuffix(".yaml")
    for f in resources.files("alerter.rules").joinpath("packs").iterdir()
    if f.name.endswith(".yaml")
)


def test_every_pack_has_a_test_file() -> None:
    assert sorted(p.name.removesuffix(".test.yaml") for p in PACK_TESTS.glob("*.yaml")) == PACKS


@pytest.mark.parametrize("pack", PACKS)
def test_pack_passes_its_rule_tests(pack: str) -> None:
    out = io.StringIO()
    rc = cmd_test(Namespace(files=[str(PACK_TESTS / f"{pack}.test.yaml")]), out)
    assert rc == 0, out.getvalue()
    assert "SUCCESS" in out.getvalue()


def test_alerter_test_command_runs_all_pack_tests() -> None:
    files = sorted(str(p) for p in PACK_TESTS.glob("*.test.yaml"))
    proc = subprocess.run(
        [sys.executable, "-m", "alerter", "test", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(files)


# The packs that count per address or user. A pack and its -aggressive variant are fail2ban's
# modes of one jail: the variant counts a connection's close or drop besides the failures the
# pack counts in it, as fail2ban's modes do (README "Rule packs"), so that pair may share a line.
COUNTING_PACKS = [p for p in PACKS if p not in ("deadman", "host")]


def test_no_line_of_the_pack_tests_counts_in_two_packs() -> None:
    """Every line of every pack test file, fed in order to each pack alone: a line counts in
    one pack at most, so with all packs loaded one attempt counts once towards a ban."""
    import yaml

    from tests.rules.test_fail2ban_samples import counted

    lines: list[str] = []
    for f in sorted(PACK_TESTS.glob("*.test.yaml")):
        for t in yaml.safe_load(f.read_text())["tests"]:
            lines += [e["line"] for il in t.get("input_logs", []) for e in il["entries"]]
    per_pack = {p: counted((p,), lines) for p in COUNTING_PACKS}
    twice = []
    for i, line in enumerate(lines):
        packs = {p for p in COUNTING_PACKS if per_pack[p][i]}
        base = {p.removesuffix("-aggressive") for p in packs}
        if len(base) > 1:
            twice.append((sorted(packs), line))
    assert twice == []
