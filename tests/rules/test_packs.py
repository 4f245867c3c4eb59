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
