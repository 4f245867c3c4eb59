"""`alerter replay`: log files through the rules by the timestamps in their lines."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from datetime import UTC, datetime
from pathlib import Path

from alerter.cli_rules import cmd_replay

CONFIG = """
global:
  state_dir: {d}/state
  labels: {{env: test}}
collectors:
  - name: auth
    type: file
    paths: [{d}/auth.log]
    parser: {{type: none}}
  - name: web
    type: file
    paths: [{d}/access.log]
    parser:
      type: regex
      pattern: '^(?P<ip>\\S+) \\S+ \\S+ \\[(?P<time>[^\\]]+)\\] "[^"]*" (?P<status>\\d{{3}}) '
      time_field: time
      time_format: "%d/%b/%Y:%H:%M:%S %z"
  - name: auth2
    type: file
    paths: [{d}/json.log]
    parser: {{type: json, time_field: ts, time_format: epoch}}
rule_files: ["builtin:sshd", "builtin:nginx"]
"""


def write_logs(d: Path) -> None:
    with open(d / "access.log", "w") as f:
        for i in range(150):
            status = 502 if i % 5 == 0 else 200
            f.write(f'1.1.1.1 - - [28/Nov/2026:06:{i // 60:02d}:{i % 60:02d} +0000] '
                    f'"GET / HTTP/1.1" {status} 10 "-" "c"\n')
    base = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    with open(d / "json.log", "w") as f:
        for i in range(6):
            line = f"Failed password for root from 9.9.9.9 port 22 ssh2 #{i}"
            f.write(json.dumps({"ts": base + 6 * 3600 + 30 + i, "msg": line}) + "\n")
    (d / "auth.log").write_text("")


def replay(d: Path, *extra: str) -> list[dict[str, object]]:
    (d / "config.yaml").write_text(CONFIG.format(d=d))
    logs = [a for a in extra if "=" in a]
    args = Namespace(config=str(d / "config.yaml"), log=logs, from_=None, to=None)
    for a in extra:
        if a.startswith("from:"):
            args.from_ = a.removeprefix("from:")
        if a.startswith("to:"):
            args.to = a.removeprefix("to:")
    out = io.StringIO()
    assert cmd_replay(args, out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_replay_prints_transitions_in_log_time_across_files(tmp_path: Path) -> None:
    write_logs(tmp_path)
    got = [(t["time"], t["alertname"], t["state"]) for t in replay(tmp_path)]
    assert got == [
        ("2026-11-28T06:00:19.000Z", "NginxHigh5xxRatio", "pending"),
        ("2026-11-28T06:00:34.000Z", "SSHBruteForce", "firing"),
        ("2026-11-28T06:02:19.000Z", "NginxHigh5xxRatio", "firing"),
    ]
    first = replay(tmp_path)[1]
    assert first["labels"] == {"alertname": "SSHBruteForce", "ip": "9.9.9.9",
                               "severity": "warning", "env": "test"}
    assert first["value"] == 5
    assert first["annotations"]["summary"] == "9.9.9.9 failed 5 SSH logins in 10m"  # type: ignore[index]


def test_replay_with_chosen_files_and_a_time_range(tmp_path: Path) -> None:
    write_logs(tmp_path)
    got = replay(tmp_path, f"web={tmp_path}/access.log", "from:2026-11-28T06:01:00Z",
                 "to:2026-11-28T06:02:00Z")
    assert [(t["time"], t["state"]) for t in got] == [("2026-11-28T06:01:19.000Z", "pending")]


def test_replay_rejects_unknown_collectors(tmp_path: Path) -> None:
    write_logs(tmp_path)
    (tmp_path / "config.yaml").write_text(CONFIG.format(d=tmp_path))
    args = Namespace(config=str(tmp_path / "config.yaml"), log=["nope=x"], from_=None, to=None)
    assert cmd_replay(args, io.StringIO()) == 2
