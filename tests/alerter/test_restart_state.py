"""What a restart brings back comes from one commit: counted events are not forgotten by a
kill -9, and an alert whose rule is gone when alerter starts again is resolved, not left firing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alerter.harness.crashtest import DaemonProcess
from alerter.testing import free_port, running_daemon
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration

RULE = """
groups:
  - name: app
    rules:
      - alert: {name}
        logs: {{source: app, match: 'login failed from (?P<ip>\\S+)'}}
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 5"
"""


def write_config(tmp: Path, receiver: str, port: int, name: str = "BruteForce") -> Path:
    (tmp / "rules.yaml").write_text(RULE.format(name=name))
    (tmp / "app.log").touch()
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
global: {{state_dir: "{tmp / "state"}", evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:{port}"}}
collectors:
  - {{name: app, type: file, paths: ["{tmp / "app.log"}"], start_at: beginning,
     parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{receiver}/hook"}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
"""
    )
    return cfg


def committed_offset(tmp: Path) -> int:
    """The file position the last checkpoint holds (read by a second connection)."""
    db = sqlite3.connect(f"file:{tmp / 'state' / 'state.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT value FROM positions WHERE collector = 'app'").fetchall()
    except sqlite3.Error:
        return -1
    finally:
        db.close()
    import json

    return max((json.loads(v)["offset"] for (v,) in rows), default=-1)


def append(tmp: Path, text: str) -> None:
    with (tmp / "app.log").open("a") as f:
        f.write(text)


def test_events_counted_before_a_kill_9_count_after_it(
    tmp_path: Path, http_receiver: HTTPReceiver
) -> None:
    port = free_port()
    cfg = write_config(tmp_path, http_receiver.url, port)
    daemon = DaemonProcess(cfg, port, tmp_path / "alerter.log")
    try:
        daemon.wait_ready()
        append(tmp_path, "login failed from 198.51.100.7\n" * 4)
        size = (tmp_path / "app.log").stat().st_size
        wait_for(lambda: committed_offset(tmp_path) == size)  # the 4 events are durable
        daemon.kill()
        daemon = DaemonProcess(cfg, port, tmp_path / "alerter.log")
        daemon.wait_ready()
        append(tmp_path, "login failed from 198.51.100.7\n")  # the 5th
        (req,) = http_receiver.wait(1, timeout=20)
        body = req.json()
        assert body["status"] == "firing"
        assert body["alerts"][0]["labels"]["ip"] == "198.51.100.7"
    finally:
        daemon.stop()


def test_an_alert_whose_rule_is_gone_after_a_restart_is_resolved(
    tmp_path: Path, http_receiver: HTTPReceiver
) -> None:
    cfg = write_config(tmp_path, http_receiver.url, 0)
    with running_daemon(cfg):
        append(tmp_path, "login failed from 203.0.113.9\n" * 5)
        (fired,) = http_receiver.wait(1)
        assert fired.json()["status"] == "firing"

    write_config(tmp_path, http_receiver.url, 0, name="SomethingElse")  # the rule is gone
    with running_daemon(cfg):
        reqs = http_receiver.wait(2)
        body = reqs[1].json()
        assert body["status"] == "resolved"
        assert body["alerts"][0]["labels"]["alertname"] == "BruteForce"
