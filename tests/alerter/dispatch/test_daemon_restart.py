"""The whole daemon (`alerter run`) with its webhook receiver down across a restart: the
notification waits in the outbox, goes out once after the restart, and a later restart does
not send it again."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from alerter.testing import free_port
from tests.conftest import start_receiver, wait_for


def _config(d: Path, hook_port: int, api_port: int) -> Path:
    (d / "rules.yaml").write_text("""
groups:
  - name: t
    rules:
      - alert: DiskError
        logs: {source: app, match: 'ERROR disk (?P<disk>\\S+)'}
        aggregate: count
        over: 1h
        by: [disk]
        threshold: ">= 1"
        annotations: {summary: "disk {{ labels.disk }} failing"}
""")
    (d / "app.log").touch()
    cfg = d / "config.yaml"
    cfg.write_text(f"""
global: {{state_dir: {d / "state"}, evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:{api_port}"}}
collectors:
  - {{name: app, type: file, paths: ["{d / "app.log"}"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "http://127.0.0.1:{hook_port}/hook", timeout: 2s}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
""")
    return cfg


class Daemon:
    def __init__(self, cfg: Path, api_port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{api_port}"
        self._log = log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alerter", "run", "-c", str(cfg), "--log-format", "json"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, timeout=30)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, "alerter exited early"
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(f"{self.url}/metrics", timeout=5).text
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


@pytest.mark.integration
def test_notification_survives_a_daemon_restart_while_the_receiver_is_down(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    hook_port, api_port = free_port(), free_port()
    cfg = _config(tmp_path, hook_port, api_port)
    first = Daemon(cfg, api_port, tmp_path / "alerter.log")
    daemons.append(first)
    with (tmp_path / "app.log").open("a") as f:
        f.write("ERROR disk sda\n")
    wait_for(
        lambda: first.metric("alerter_notifications_total", notifier="hook", outcome="retry") >= 1
    )
    assert first.metric("alerter_notification_queue_length") == 1
    first.stop()

    receiver = start_receiver(hook_port)
    try:
        second = Daemon(cfg, api_port, tmp_path / "alerter.log")
        daemons.append(second)
        (req,) = receiver.wait(1)
        body = req.json()
        assert body["status"] == "firing"
        assert body["alerts"][0]["labels"]["disk"] == "sda"
        wait_for(lambda: second.metric("alerter_notification_queue_length") == 0)
        second.stop()

        # Restart once more and add a second alert to the group: the next notification
        # must be that change, with no repeat of the first one before it (one outbox lane
        # keeps order, and a repeat would come from the first flush after the restart).
        third = Daemon(cfg, api_port, tmp_path / "alerter.log")
        daemons.append(third)
        with (tmp_path / "app.log").open("a") as f:
            f.write("ERROR disk sdb\n")
        reqs = receiver.wait(2)
        assert sorted(a["labels"]["disk"] for a in reqs[1].json()["alerts"]) == ["sda", "sdb"]
        wait_for(lambda: third.metric("alerter_notification_queue_length") == 0)
        assert len(receiver.requests) == 2
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
