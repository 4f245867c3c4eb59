"""A stop under back-pressure (the daemon's wiring with fake parts, tests/alerter/daemon_fakes.py):
a collector waiting on the full bus sees its stop once its batch is in."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import structlog
import structlog.testing

from alerter.collectors.base import Sink
from alerter.core.events import LogBatch, LogEvent, LogLines
from alerter.rules.alert import Transition
from alerter.runtime.bus import Bus
from tests.alerter.daemon_fakes import FakeCollector, FakeEngine, Harness
from tests.conftest import wait_for


class FloodingCollector(FakeCollector):
    """Hands the bus batches from a thread of its own as fast as it takes them (a file
    collector reading a backlog: the bus is full, each put waits for room); `stop` joins the
    thread as FileCollector.stop does, and notes whether it outlived the join."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.put = 0
        self.halt = threading.Event()
        self.thread: threading.Thread | None = None
        self.outlived_join = False

    def start(self, sink: Sink) -> None:
        self.sink = sink
        self.thread = threading.Thread(target=self._flood, args=(sink,), daemon=True)
        self.thread.start()

    def _flood(self, sink: Sink) -> None:
        while not self.halt.is_set():
            batch = LogBatch.of_events(self.name, 0.0, [LogEvent(0.0, self.name, "x")])
            if not sink.put_lines(batch, ack=lambda: self._ack(1)):
                return
            self.put += 1

    def stop(self) -> None:
        self.halt.set()
        assert self.thread is not None
        self.thread.join(timeout=10)
        self.outlived_join = self.thread.is_alive()


class FloodHarness(Harness):
    def _collector(self, cfg: Any, positions: Any, stats: Any, clock: Any) -> FakeCollector:
        c = FloodingCollector(cfg.name)
        self.collectors[cfg.name] = c
        return c


def test_stop_under_back_pressure_takes_the_collectors_last_batches(tmp_path: Path) -> None:
    """A collector waiting on the full bus sees its stop once its batch is in: the daemon
    keeps taking batches while it stops them (before, the stop waited out the join, 10 s, with
    the collector still blocked), and every batch handed in is processed and acknowledged."""
    h = FloodHarness(tmp_path)
    h.daemon.pipeline.bus = Bus(maxsize=2)  # full at once
    h.thread.start()
    assert h.daemon.ready.wait(10)
    c = h.collectors["app"]
    assert isinstance(c, FloodingCollector)
    wait_for(lambda: c.acked > 1000, timeout=30)
    h.daemon.request_stop()
    h.thread.join(30)
    assert h.exit_code == 0
    assert not c.outlived_join
    assert c.acked == c.put == h.engines[-1].seen


class SlowEngine(FakeEngine):
    """Takes 5 ms a batch (a backlog the stop cannot finish within its budget)."""

    def process(self, batch: LogLines, now: float) -> list[Transition]:
        time.sleep(0.005)  # (the cost of a batch, not a wait for anything)
        return super().process(batch, now)


class SlowHarness(FloodHarness):
    def _engine(self, config: Any, hooks: Any, offload: Any = None) -> FakeEngine:
        e = SlowEngine()
        self.engines.append(e)
        return e


def test_a_stop_takes_batches_for_its_budget_and_acknowledges_only_those(
    tmp_path: Path,
) -> None:
    """A backlog longer than the stop's budget: the stop ends once the budget is spent, logs
    what it left, and acknowledges only the batches processed (a file is read from the first
    of the others again at the next start)."""
    h = SlowHarness(tmp_path)
    h.daemon.pipeline.bus = Bus(maxsize=5000)
    h.daemon.stop_drain_seconds = 0.3
    h.thread.start()
    assert h.daemon.ready.wait(10)
    c = h.collectors["app"]
    assert isinstance(c, FloodingCollector)
    wait_for(lambda: h.daemon.pipeline.bus.qsize() > 1000, timeout=30)  # 5 s of work queued
    with structlog.testing.capture_logs() as logs:
        h.daemon.request_stop()
        h.thread.join(30)
    assert h.exit_code == 0
    assert not c.outlived_join
    assert c.acked == h.engines[-1].seen < c.put
    (cut,) = [e for e in logs if e["event"] == "stop_drain_cut"]
    assert cut["batches"] == c.put - c.acked
