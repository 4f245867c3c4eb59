"""Stopping the daemon on fake parts: the bus drained and acked, the state saved, exit code 0,
and the state back after a restart."""

from __future__ import annotations

from pathlib import Path

from tests.alerter.daemon_fakes import Harness
from tests.conftest import wait_for


def test_stop_drains_bus_saves_snapshot_and_exits_zero(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.thread.start()
    assert h.daemon.ready.wait(10)
    h.collectors["app"].emit(*[f"line {i}" for i in range(100)])
    h.daemon.request_stop()
    h.thread.join(10)
    assert h.exit_code == 0
    assert h.collectors["app"].acked == 100
    msgs = h.messages(lambda m: m == "STOPPING=1")
    assert msgs[-1] == "STOPPING=1"
    from alerter.store.db import StateStore
    from alerter.store.snapshots import read_snapshot

    assert read_snapshot(StateStore(tmp_path / "state")) == {"seen": 100}


def test_state_survives_restart(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.thread.start()
    assert h.daemon.ready.wait(10)
    h.collectors["app"].emit("x", "y")
    wait_for(lambda: h.collectors["app"].acked == 2)
    h.daemon.request_stop()
    h.thread.join(10)
    h.notify_sock.close()
    (tmp_path / "notify.sock").unlink()
    h2 = Harness(tmp_path)
    assert h2.daemon.ready.is_set() is False
    h2.thread.start()
    assert h2.daemon.ready.wait(10)
    assert h2.engines[0].seen == 2
    h2.daemon.request_stop()
    h2.thread.join(10)
