"""builtin:systemd against a real systemd + journald (the sandbox, tests/sandbox.py): what any
local user can write with `logger` names no unit, and a unit that really fails fires
SystemdUnitFailed and is restarted by an action attached to the pack's rule from `rule_files`.

The whole daemon runs as a unit inside the sandbox and reads the sandbox's journal; the test
talks to its API on loopback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.testing import free_port
from tests.alerter.actions.test_end_to_end import ALERTER, Daemon, running_daemon
from tests.conftest import Sandbox, wait_for

pytestmark = pytest.mark.integration

# Sandboxes share the host's cgroup tree: unit names unique to this run keep two runs apart.
RUN = secrets.token_hex(3)
DAEMON, VICTIM, FLAKY = (f"pt-{RUN}-{n}.service" for n in ("alerter", "victim", "flaky"))
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@pytest.fixture
def daemon(systemd_sandbox: Sandbox, tmp_path: Path) -> Iterator[Daemon]:
    sb = systemd_sandbox
    # the sandbox boots PID 1 logging to its console; a host's PID 1 logs to the journal
    sb.systemctl("log-target", "journal")
    port = free_port()
    config: dict[str, Any] = {
        "global": {"state_dir": f"{tmp_path}/state", "evaluation_interval": "1s"},
        "server": {"listen": f"127.0.0.1:{port}"},
        "collectors": [{"name": "journal", "type": "journald"}],
        "rule_files": [
            {"path": "builtin:systemd", "actions": {"SystemdUnitFailed": ["restart-unit"]}}
        ],
        "notifiers": [{"name": "console", "type": "console"}],
        "actions": [
            {
                "name": "restart-unit",
                "type": "systemd",
                "unit": "{{ labels.unit }}",
                "cooldown": "1h",
            }
        ],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    check = sb.run(str(ALERTER), "check", "-c", str(tmp_path / "config.yaml"), check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "warning" not in check.stdout  # the pack's rule reads only PID 1's entries
    with running_daemon(sb, DAEMON, tmp_path / "config.yaml", port) as d:
        yield d


def following(d: Daemon) -> bool:
    """Has the journald collector delivered an entry yet? (Log one, so there is one.)"""
    d.sb.run("logger", "-t", f"pt-{RUN}-marker", "is alerter following the journal?")
    return d.metric("alerter_events_total", collector="journal") > 0


def test_forged_unit_failures_fire_nothing_and_a_real_failure_is_restarted(
    systemd_sandbox: Sandbox, daemon: Daemon, tmp_path: Path
) -> None:
    sb, d = systemd_sandbox, daemon
    sb.write_unit(
        VICTIM,
        f"[Service]\nExecStart=/bin/sh -c 'echo start >> {tmp_path}/victim; exec sleep infinity'\n",
    )
    sb.write_unit(
        FLAKY,
        f"[Service]\nExecStart=/bin/sh -c 'if [ -e {tmp_path}/broken ]; then rm {tmp_path}/broken; exit 3; fi; "
        f"echo start >> {tmp_path}/flaky; exec sleep infinity'\n",
    )
    sb.systemctl("start", VICTIM)
    wait_for(lambda: following(d), timeout=30, interval=0.5)

    # As user nobody: the text PID 1 writes for a failed unit, through syslog (as plain
    # `systemd` and as `systemd[1]`) and as a journal entry naming the unit in UNIT=.
    forged = f"{VICTIM}: Failed with result 'exit-code'."
    sb.run(*NOBODY, "logger", "-t", "systemd", forged)
    sb.run(*NOBODY, "logger", "-t", "systemd[1]", forged)
    sb.run(
        *NOBODY,
        "logger",
        "--journald",
        input=f"MESSAGE={forged}\nUNIT={VICTIM}\nSYSLOG_IDENTIFIER=systemd\n"
        "MESSAGE_ID=d9b373ed55a64feb8242e02dbe79a49c\nUNIT_RESULT=exit-code\n",
    )
    # Then a unit that really fails (exit 3 on its first start, healthy after a restart).
    (tmp_path / "broken").touch()
    sb.systemctl("start", FLAKY)

    def acted() -> list[tuple[str, str, str]]:
        return [(h["action"], h["target"], h["outcome"]) for h in d.actions()]

    wait_for(lambda: acted() == [("restart-unit", FLAKY, "ok")], timeout=30, interval=0.2)
    wait_for(lambda: (tmp_path / "flaky").exists(), timeout=10)
    # PID 1's entry was read after the forged ones (journal order): they were judged by now
    firing = [
        a["labels"].get("unit")
        for a in d.get("/api/v1/alerts")["data"]["alerts"]
        if a["labels"]["alertname"] == "SystemdUnitFailed" and a["state"] == "firing"
    ]
    assert firing == [FLAKY]
    assert (tmp_path / "victim").read_text().splitlines() == ["start"]  # never restarted
    assert sb.show(FLAKY, "ActiveState") == "active"
    # the forged entries are in the journal as nobody's, text and UNIT= as sent
    entries = sb.run("journalctl", "--no-pager", "-o", "cat", "_UID=65534").stdout
    assert entries.count(forged) == 3
