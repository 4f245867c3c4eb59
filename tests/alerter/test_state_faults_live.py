"""The real daemon on a state dir that fills up: it keeps notifying from memory, says so
(status, metric, log), and writes everything once the store takes writes again. (A read-only
store is tested in test_checkpoint.py: a tmpfs holding open files cannot be remounted read-only.)"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import requests

from alerter.harness.crashtest import DaemonProcess, KeyReceiver, RotatingWriter, write_config
from alerter.testing import free_port, running_daemon
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs of the test's own, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full."""
    filler = directory / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def status(d: DaemonProcess) -> dict[str, object]:
    return dict(requests.get(f"{d.url}/api/v1/status", timeout=5).json()["data"]["state"])


def test_daemon_notifies_through_a_full_disk_and_writes_everything_after(
    tmp_path: Path, small_fs: Path
) -> None:
    receiver = KeyReceiver()
    port = free_port()
    cfg = write_config(tmp_path, receiver.url, port)
    text = cfg.read_text().replace(f'"{tmp_path / "state"}"', f'"{small_fs / "state"}"')
    cfg.write_text(text)
    writer = RotatingWriter(tmp_path / "app.log")
    daemon = DaemonProcess(cfg, port, tmp_path / "alerter.log")
    try:
        daemon.wait_ready()
        writer.write(20)
        wait_for(lambda: writer.keys() <= receiver.keys(), timeout=30)

        filler = fill(small_fs)

        def store_failing() -> bool:
            writer.write(200)  # until the store needs space it does not have
            return status(daemon)["ok"] is False

        wait_for(store_failing, timeout=60, interval=0.3)
        writer.write(50)
        wait_for(lambda: writer.keys() <= receiver.keys(), timeout=30)  # notified meanwhile
        assert daemon.proc.poll() is None  # and it did not exit

        filler.unlink()
        wait_for(lambda: status(daemon)["ok"] is True, timeout=60, interval=0.2)
        metrics = requests.get(f"{daemon.url}/metrics", timeout=5).text
        assert 'alerter_state_errors_total{operation="checkpoint"}' in metrics
    finally:
        assert daemon.stop() == 0
        receiver.close()
    # Everything read was written once the store took writes again: a restart reads only
    # the line written after it, none of those read during the fault.
    daemon = DaemonProcess(cfg, port, tmp_path / "alerter.log")
    try:
        daemon.wait_ready()
        writer.write(1)
        wait_for(lambda: events(daemon) >= 1, timeout=30)
        assert events(daemon) == 1
    finally:
        daemon.stop()


def events(d: DaemonProcess) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{d.url}/metrics", timeout=5).text
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "alerter_events_total" and s.labels.get("collector") == "app":
                return float(s.value)
    return 0.0


def test_a_reload_while_the_store_refuses_writes_loses_no_notification(
    tmp_path: Path, http_receiver: HTTPReceiver
) -> None:
    """The old config's dispatcher held a resolve only in memory (its commit was refused) when
    a reload replaced it: the resolve was lost, and the new dispatcher, which read the store's
    older groups, held the resolved alert as firing (/api/v2/alerts, repeats)."""
    (tmp_path / "rules.yaml").write_text("""
groups:
  - name: t
    interval: 1s
    rules:
      - {alert: Boom, logs: {source: app, match: boom}, aggregate: count, over: 2s, threshold: ">= 1"}
""")
    (tmp_path / "app.log").touch()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
global: {{state_dir: "{tmp_path / "state"}", evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:0"}}
collectors:
  - {{name: app, type: file, paths: ["{tmp_path}/app.log"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{http_receiver.url}/hook", timeout: 2s}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
""")
    with running_daemon(cfg) as d:
        api = f"http://127.0.0.1:{d.server.port}"
        with (tmp_path / "app.log").open("a") as f:
            f.write("boom\n")
        assert http_receiver.wait(1)[0].json()["status"] == "firing"
        queue = partial(d.metrics.registry.get_sample_value, "alerter_notification_queue_length")
        wait_for(lambda: queue() == 0)  # its row deleted
        d.store.query("PRAGMA query_only = ON")  # as a read-only disk answers writes
        with http_receiver.event:
            http_receiver.statuses[:] = [503] * 100_000  # the resolve waits in memory
        try:
            wait_for(
                lambda: not requests.get(f"{api}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            )
            wait_for(lambda: not requests.get(f"{api}/api/v2/alerts", timeout=5).json())
            assert d.reload_and_wait(20)
            with http_receiver.event:
                http_receiver.statuses.clear()
            got = http_receiver.wait(2, timeout=30)
            assert got[1].json()["status"] == "resolved"
            assert requests.get(f"{api}/api/v2/alerts", timeout=5).json() == []
        finally:
            d.store.query("PRAGMA query_only = OFF")
