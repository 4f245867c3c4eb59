"""A reload while a notifier is stuck in a send: the main loop does not wait for that send
(its timeout here is an hour); the reload completes while the receiver still holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.testing import running_daemon
from tests.alerter.notifiers.rawserver import RawServer, hold

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: app
    interval: 1s
    rules:
      - alert: AppError
        logs: {source: app, match: 'ERROR'}
        aggregate: count
        over: 5m
        threshold: ">= 1"
"""


def write_config(tmp: Path, receiver: str) -> Path:
    (tmp / "rules.yaml").write_text(RULES)
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
global: {{state_dir: state}}
server: {{listen: "127.0.0.1:0"}}
collectors:
  - {{name: app, type: file, paths: ["{tmp}/app.log"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{receiver}/hook", timeout: 1h}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s}}
"""
    )
    return cfg


def test_reload_does_not_wait_for_a_notifier_stuck_in_a_send(tmp_path: Path) -> None:
    server = RawServer(hold)
    (tmp_path / "app.log").write_text("")
    cfg = write_config(tmp_path, server.url)
    try:
        # on leaving the block the daemon must stop within 30 s (the held sends released first)
        with running_daemon(cfg, stop_timeout=30) as d:
            try:
                with (tmp_path / "app.log").open("a") as f:
                    f.write("ERROR one\n")
                assert server.held.wait(30), "the notification never reached the receiver"

                # Waiting for the stuck send would take its whole hour; the reload is done at once.
                assert d.reload_and_wait(timeout=60), d.last_reload_error
                assert not server.release.is_set() and not server.hung_up.is_set()
                assert server.requests, "the stuck request was the receiver's first"
                assert d.status()["state"]["ok"]
            finally:
                server.release.set()  # the held sends end, so stopping does not wait either
    finally:
        server.stop()
