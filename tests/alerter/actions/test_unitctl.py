"""The systemctl controller: argv it runs, errors it reports, unit names it accepts."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from alerter.actions.unitctl import SystemctlController, normalize_unit, revert_values, show_names
from alerter.errors import ActionError

FAKE = textwrap.dedent("""
    import json, sys
    args = sys.argv[2:]
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps(args) + "\\n")
    if "broken.service" in args:
        print("Failed to restart broken.service: Unit broken.service not found.", file=sys.stderr)
        sys.exit(5)
    if "slow.service" in args:
        import time; time.sleep(30)
    if args[0] == "show":
        print("CPUQuotaPerSecUSec=200ms\\nCPUWeight=[not set]")
""")


@pytest.fixture
def ctl(tmp_path: Path) -> tuple[SystemctlController, Path]:
    script, log = tmp_path / "systemctl.py", tmp_path / "calls.jsonl"
    script.write_text(FAKE)
    return SystemctlController(prefix=(sys.executable, str(script), str(log)), timeout=5), log


def calls(log: Path) -> list[list[str]]:
    import json

    return [json.loads(line) for line in log.read_text().splitlines()]


def test_operations_and_properties_are_plain_argv(ctl: tuple[SystemctlController, Path]) -> None:
    c, log = ctl
    c.operate("restart", "web.service")
    c.set_properties("web.service", {"CPUQuota": "20%", "MemoryHigh": "1G"})
    assert c.show("web.service", ["CPUQuotaPerSecUSec", "CPUWeight"]) == {
        "CPUQuotaPerSecUSec": "200ms",
        "CPUWeight": "[not set]",
    }
    assert calls(log) == [
        ["restart", "--", "web.service"],
        ["set-property", "--runtime", "--", "web.service", "CPUQuota=20%", "MemoryHigh=1G"],
        ["show", "-p", "CPUQuotaPerSecUSec", "-p", "CPUWeight", "--", "web.service"],
    ]


def test_failure_carries_systemctls_message(ctl: tuple[SystemctlController, Path]) -> None:
    c, _ = ctl
    with pytest.raises(
        ActionError, match=r"exited 5: Failed to restart broken\.service: Unit broken"
    ):
        c.operate("restart", "broken.service")


def test_timeout_is_an_action_error(tmp_path: Path, ctl: tuple[SystemctlController, Path]) -> None:
    c, _ = ctl
    c.timeout = 0.3
    with pytest.raises(ActionError, match=r"timed out after 0\.3s"):
        c.operate("restart", "slow.service")


def test_missing_systemctl_is_an_action_error() -> None:
    with pytest.raises(ActionError, match="cannot run /nonexistent/systemctl"):
        SystemctlController(prefix=("/nonexistent/systemctl",)).operate("restart", "a.service")


@pytest.mark.parametrize(
    ("name", "full"),
    [
        ("web", "web.service"),
        ("web.service", "web.service"),
        ("getty@tty1.service", "getty@tty1.service"),
        ("backup.timer", "backup.timer"),
        ("user-1000.slice", "user-1000.slice"),
    ],
)
def test_unit_names_are_completed_like_systemctl_does(name: str, full: str) -> None:
    assert normalize_unit(name) == full


@pytest.mark.parametrize(
    "name", ["", "*", "web*", "web?.service", "[ab].service", "-all", "a b", "a/b", "x\n"]
)
def test_globs_options_and_odd_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid unit name"):
        normalize_unit(name)


def test_revert_values_from_systemctl_show() -> None:
    props = ["CPUQuota", "CPUWeight", "MemoryMax", "TasksMax"]
    assert show_names(props) == ["CPUQuotaPerSecUSec", "CPUWeight", "MemoryMax", "TasksMax"]
    shown = {
        "CPUQuotaPerSecUSec": "1.500000s",
        "CPUWeight": "[not set]",
        "MemoryMax": "infinity",
        "TasksMax": "18446744073709551615",
    }
    assert revert_values(props, shown) == {
        "CPUQuota": "150%",
        "CPUWeight": "",
        "MemoryMax": "infinity",
        "TasksMax": "infinity",
    }
    assert revert_values(["CPUQuota"], {"CPUQuotaPerSecUSec": "infinity"}) == {"CPUQuota": ""}
    assert revert_values(["CPUQuota"], {"CPUQuotaPerSecUSec": "200ms"}) == {"CPUQuota": "20%"}
