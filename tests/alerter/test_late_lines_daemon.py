"""Live lines consistently stamped in the past (a naive UTC stamp read as local time an hour
ahead of UTC) are late for every rule: the daemon says so, once per 10 minutes per collector,
and its status and web page show it (alerter/runtime/latelines.py). The daemon's wiring with the
real engine, the fake collectors of tests/alerter/daemon_fakes.py and a FixedClock."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from alerter.config.load import load_config
from alerter.core.events import LogBatch, LogEvent
from alerter.runtime.daemon import Daemon
from alerter.runtime.metrics import Metrics
from alerter.runtime.sdnotify import SystemdNotifier
from alerter.runtime.wiring import Parts
from alerter.testing import FixedClock
from alerter.web import view
from tests.alerter.daemon_fakes import FakeCollector, Recorder
from tests.conftest import wait_for

RULES = """
groups:
  - name: app
    interval: 5s
    rules:
      - alert: AppErrors
        logs: {source: app, match: 'error'}
        aggregate: count
        over: 10m
        threshold: ">= 5"
"""


class TimedCollector(FakeCollector):
    """Hands over batches read at the clock's time whose lines carry `age`-old stamps."""

    def __init__(self, name: str, clock: FixedClock) -> None:
        super().__init__(name)
        self.sent = 0
        self._clock = clock

    def emit_aged(self, age: float, lines: int = 3, backlog: bool = False) -> None:
        assert self.sink is not None
        now = self._clock.now()
        events = [LogEvent(now - age, self.name, f"error {i}") for i in range(lines)]
        self.sent += lines
        self.sink.put_lines(
            LogBatch.of_events(self.name, now, events, backlog), ack=lambda: self._ack(lines)
        )


class ClockedDaemon:
    """The daemon with the real engine on a FixedClock, its collectors TimedCollectors."""

    def __init__(self, tmp: Path, rules: str = RULES) -> None:
        (tmp / "rules.yaml").write_text(rules)
        path = tmp / "config.yaml"
        path.write_text(
            "global: {state_dir: state}\nserver: {listen: '127.0.0.1:0'}\n"
            "rule_files: [rules.yaml]\n"
            f"collectors:\n  - {{name: app, type: file, paths: ['{tmp}/app.log']}}\n"
        )
        self.clock = FixedClock()
        self.collectors: dict[str, TimedCollector] = {}
        parts = Parts(
            clock=self.clock,
            dispatcher=lambda *a: Recorder(),
            actions=lambda *a: Recorder(),
            collector=self._collector,
            routes=lambda *a: [],
        )
        self.daemon = Daemon(
            str(path),
            load_config(str(path)),
            parts=parts,
            notifier=SystemdNotifier({}),
            metrics=Metrics(CollectorRegistry()),
        )
        self.thread = threading.Thread(target=self.daemon.run, daemon=True)

    def _collector(self, cfg: Any, positions: Any, stats: Any, clock: Any) -> TimedCollector:
        c = self.collectors[cfg.name] = TimedCollector(cfg.name, self.clock)
        return c

    def feed(self, age: float, backlog: bool = False) -> None:
        """One batch of `age`-old lines, processed (acknowledged) when this returns."""
        c = self.collectors["app"]
        c.emit_aged(age, backlog=backlog)
        wait_for(lambda: c.acked == c.sent)


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[ClockedDaemon]:
    r = ClockedDaemon(tmp_path)
    r.thread.start()
    assert r.daemon.ready.wait(10)
    yield r
    r.daemon.request_stop()
    r.thread.join(10)


def warnings(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "events_late"]


def test_live_lines_an_hour_old_are_told_once_per_ten_minutes_and_shown(
    clocked: ClockedDaemon,
) -> None:
    clock = clocked.clock
    with structlog.testing.capture_logs() as logs:
        clocked.feed(3600)
        clock.advance(30)
        clocked.feed(3601)
        assert warnings(logs) == []  # not yet a minute of them: perhaps a backlog's tail
        clock.advance(30)
        clocked.feed(3600)
        (w,) = warnings(logs)
        assert w["collector"] == "app"
        assert w["log_level"] == "warning"
        assert w["lines"] == 9
        assert w["age_s"] == 3600
        assert "~1h old" in w["hint"] and "%z" in w["hint"]
        for _ in range(9):  # 9 minutes more of them: told once is enough
            clock.advance(60)
            clocked.feed(3600)
        assert len(warnings(logs)) == 1
        clock.advance(60)  # 10 minutes after the first
        clocked.feed(3600)
        assert len(warnings(logs)) == 2
        assert warnings(logs)[1]["lines"] == 30  # those since it was last told

    late = clocked.daemon.status()["late_lines"]
    assert set(late) == {"app"}
    assert late["app"]["age_seconds"] == 3600
    assert late["app"]["lines"] == 39
    assert "time_format" in late["app"]["hint"]
    (row,) = view.collectors(clocked.daemon, view.Rates())
    assert row["late"] == 39
    assert row["late_hint"] == f"too old for AppErrors (10m): {late['app']['hint']}"


def test_a_backlog_caught_up_is_not_taken_for_live_lines(clocked: ClockedDaemon) -> None:
    """A backlog's late lines get younger as it is read (its lines' times run ahead of the
    clock): however long it takes, that is not a parser reading the wrong time."""
    clock = clocked.clock
    with structlog.testing.capture_logs() as logs:
        for age in range(86400, 600, -3600):  # a day of backlog, an hour of it every 20 s
            clocked.feed(age)
            clock.advance(20)
    assert warnings(logs) == []
    assert clocked.daemon.status()["late_lines"] == {}
    (row,) = view.collectors(clocked.daemon, view.Rates())
    assert row["late"] == 3 * 24 and row["late_hint"] == ""


def test_a_backlog_read_slower_than_real_time_is_not_taken_for_live_lines(
    clocked: ClockedDaemon,
) -> None:
    """A backlog read no faster than it was written (a slow disk, a loaded engine) keeps its
    lines' age: its batches say they were read behind the end of the input, and that is no
    wrong zone. Live lines an hour old after it are told, with their own age."""
    clock = clocked.clock
    with structlog.testing.capture_logs() as logs:
        for _ in range(20):  # 10 minutes of a backlog 2 hours behind, not catching up
            clocked.feed(7200, backlog=True)
            clock.advance(30)
        assert warnings(logs) == []
        assert clocked.daemon.status()["late_lines"] == {}
        for _ in range(3):  # caught up: live lines, an hour late (a wrong zone)
            clocked.feed(3600)
            clock.advance(30)
    (w,) = warnings(logs)
    assert w["age_s"] == 3600 and w["lines"] == 9
    assert clocked.daemon.status()["late_lines"]["app"]["lines"] == 9
    (row,) = view.collectors(clocked.daemon, view.Rates())
    assert row["late"] == 20 * 3 + 9  # alerter_events_late_total counts the backlog's too


def test_live_lines_too_old_for_a_short_rule_are_told_beside_a_long_one(
    tmp_path: Path,
) -> None:
    """A day's rule counts lines an hour old (a wrong zone): they are late for no metric, but
    the 10m rule misses every one of them, and that is told."""
    daily = RULES.replace("AppErrors", "AppDaily").replace("over: 10m", "over: 1d")
    r = ClockedDaemon(tmp_path, RULES + daily.split("rules:\n", 1)[1])
    r.thread.start()
    try:
        assert r.daemon.ready.wait(10)
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                r.feed(3600)
                r.clock.advance(30)
        (w,) = warnings(logs)
        assert w["too_old_for"] == "AppErrors (10m)" and w["age_s"] == 3600
        assert r.daemon.status()["late_lines"]["app"]["too_old_for"] == "AppErrors (10m)"
        (row,) = view.collectors(r.daemon, view.Rates())
        # alerter_events_late_total: too old for AppErrors (DESIGN), though AppDaily counted them
        assert row["late"] == 9
        assert row["late_hint"].startswith("too old for AppErrors (10m): ")
    finally:
        r.daemon.request_stop()
        r.thread.join(10)
