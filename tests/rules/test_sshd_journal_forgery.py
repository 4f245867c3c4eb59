"""builtin:sshd on a real journal (the sandbox, tests/sandbox.py): a root service printing its
clients' text to the journal writes sshd's shapes as entries of its own (`_UID=0`,
`_TRANSPORT=stdout`, `_COMM=sh`), which count for nobody; the same text logged through
syslog(3) by a root process named sshd counts.

The whole daemon runs as a unit inside the sandbox and reads the sandbox's journal."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.testing import free_port
from tests.alerter.actions.test_end_to_end import running_daemon
from tests.conftest import Sandbox, wait_for

pytestmark = pytest.mark.integration

RUN = secrets.token_hex(3)
DAEMON, CHATTY = (f"pt-{RUN}-{n}.service" for n in ("alerter", "chatty"))
FORGED, REAL = "198.51.100.7", "198.51.100.8"


def attempt(address: str) -> str:
    return f"Failed password for root from {address} port 22 ssh2"


def test_a_root_services_output_is_not_sshd_and_sshds_own_entries_count(
    systemd_sandbox: Sandbox, tmp_path: Path
) -> None:
    sb = systemd_sandbox
    port = free_port()
    config: dict[str, Any] = {
        "global": {"state_dir": f"{tmp_path}/state", "evaluation_interval": "1s"},
        "server": {"listen": f"127.0.0.1:{port}"},
        "collectors": [{"name": "journal", "type": "journald"}],
        "rule_files": ["builtin:sshd"],
        "notifiers": [{"name": "console", "type": "console"}],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with running_daemon(sb, DAEMON, tmp_path / "config.yaml", port) as d:
        # a root service echoing what its clients sent, a line each (as nginx writes a Basic-auth
        # user name with newlines in it): journald stores each line as an entry of root's
        echo = f'for i in 1 2 3 4 5 6 7 8; do echo "{attempt(FORGED)}"; done'
        sb.write_unit(CHATTY, f"[Service]\nType=oneshot\nExecStart=/bin/sh -c '{echo}'\n")
        sb.systemctl("start", CHATTY)
        # then a root process named sshd logging through syslog(3), as sshd does
        sshd = tmp_path / "sshd"
        shutil.copy("/usr/bin/logger", sshd)
        for _ in range(6):
            sb.run(str(sshd), "-t", "sshd", attempt(REAL))

        def firing() -> set[str]:
            alerts = d.get("/api/v1/alerts")["data"]["alerts"]
            return {
                a["labels"]["ip"] for a in alerts if a["labels"]["alertname"] == "SSHBruteForce"
            }

        # (the service's entries come first in the journal: judged by the time REAL fires)
        wait_for(lambda: REAL in firing(), timeout=30, interval=0.2)
        assert firing() == {REAL}
        # both are in the journal as root's, with the text as written
        out = sb.run("journalctl", "--no-pager", "-o", "cat", "_UID=0").stdout
        assert out.count(attempt(FORGED)) == 8 and out.count(attempt(REAL)) == 6
