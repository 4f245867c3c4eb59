"""`alerter replay` of a real `journalctl -o json` export (issue 13 point 1): entries written in
the systemd sandbox (tests/sandbox.py) by `logger` and by PID 1 for a unit that really failed,
exported by journalctl, and replayed by the CLI: each collector's filter applies, entries are
placed at their __REALTIME_TIMESTAMP, and builtin:systemd fires for the failed unit only (not
for the same text logged by user nobody)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from alerter.rules.templates import rfc3339
from tests.conftest import Sandbox, wait_for

pytestmark = pytest.mark.integration

RUN = secrets.token_hex(3)
TAG, OTHER = f"pt-{RUN}-app", f"pt-{RUN}-other"
FAILED, FORGED = f"pt-{RUN}-failed.service", f"pt-{RUN}-forged.service"
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
ROOT = Path(__file__).resolve().parents[2]

RULES = """
groups:
  - name: app
    interval: 15s
    rules:
      - alert: AppErrors
        logs: {source: app, match: 'ERROR (?P<code>\\d+)'}
        aggregate: count
        by: [code]
        over: 5m
        threshold: ">= 3"
"""


def test_a_real_journal_export_is_replayed_by_entry_time(
    systemd_sandbox: Sandbox, tmp_path: Path
) -> None:
    sb = systemd_sandbox
    sb.systemctl("log-target", "journal")  # the sandbox's PID 1 logs to its console otherwise
    for i in range(3):
        sb.run("logger", "-t", TAG, f"ERROR 503 attempt {i}")
        sb.run("logger", "-t", OTHER, "ERROR 503 not the app's")  # the app collector skips it
    sb.run(*NOBODY, "logger", "-t", "systemd", f"{FORGED}: Failed with result 'exit-code'.")
    sb.write_unit(FAILED, "[Service]\nType=oneshot\nExecStart=/bin/false\n")
    sb.systemctl("start", FAILED, check=False)

    def export() -> str:
        return sb.run("journalctl", "--no-pager", "-o", "json").stdout

    wait_for(lambda: f"{FAILED}: Failed with result" in export(), timeout=20, interval=0.2)
    text = export()
    (tmp_path / "journal.json").write_text(text)
    entries = [json.loads(e) for e in text.splitlines()]
    app_times = [
        int(e["__REALTIME_TIMESTAMP"]) / 1e6 for e in entries if e.get("SYSLOG_IDENTIFIER") == TAG
    ]
    assert len(app_times) == 3
    (failed_at,) = [
        int(e["__REALTIME_TIMESTAMP"]) / 1e6
        for e in entries
        if e.get("_PID") == "1" and e.get("UNIT") == FAILED and "Failed with" in e["MESSAGE"]
    ]

    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "config.yaml").write_text(
        f"global: {{state_dir: {tmp_path}/state}}\n"
        "collectors:\n"
        f"  - {{name: app, type: journald, identifiers: [{TAG}]}}\n"
        "  - {name: journal, type: journald}\n"
        "rule_files: [rules.yaml, builtin:systemd]\n"
    )
    export_file = tmp_path / "journal.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "alerter",
            "replay",
            "-c",
            str(tmp_path / "config.yaml"),
            "--log",
            f"app={export_file}",
            "--log",
            f"journal={export_file}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    firing = [
        (t["time"], t["alertname"], t["labels"].get("code") or t["labels"].get("unit"), t["value"])
        for t in got
        if t["state"] == "firing"
    ]
    assert firing == [
        (rfc3339(app_times[2]), "AppErrors", "503", 3),
        (rfc3339(failed_at), "SystemdUnitFailed", FAILED, 1),
    ], proc.stdout
    assert f"replay: {3 + len(entries)} lines, 0 skipped (late)" in proc.stderr
