"""The daemon's main loop on fake parts: batches to the engine, then acked, transitions to the
dispatcher, samples through their own door, the drain budget, sd_notify's READY and watchdog."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from alerter.core.events import LogLines
from alerter.rules.alert import Alert, Transition
from tests.alerter.daemon_fakes import Harness
from tests.conftest import wait_for


def test_ready_notification_carries_status(harness: Harness) -> None:
    msgs = harness.messages(lambda m: "READY=1" in m)
    assert "STATUS=1 collector, 0 rule groups, 0 firing, 0 pending" in msgs[-1].splitlines()


def test_watchdog_is_pinged_from_the_main_loop(harness: Harness) -> None:
    assert harness.messages(lambda m: m == "WATCHDOG=1")[-1] == "WATCHDOG=1"


def test_a_collector_that_has_sent_nothing_has_its_events_series_at_zero(
    harness: Harness,
) -> None:
    """A rate over alerter_events_total reads 0, not no data, for a quiet collector."""
    got = harness.metrics.registry.get_sample_value("alerter_events_total", {"collector": "app"})
    assert got == 0.0


def test_events_reach_engine_then_ack_then_transitions_reach_dispatcher(harness: Harness) -> None:
    c = harness.collectors["app"]
    c.emit("hello", "boom")
    wait_for(lambda: c.acked == 2)
    assert harness.engines[0].seen == 2
    wait_for(lambda: harness.dispatchers[0].transitions)
    assert harness.dispatchers[0].transitions[0].alert.alertname == "Boom"
    assert (
        harness.metrics.registry.get_sample_value("alerter_events_total", {"collector": "app"}) == 2
    )
    lag = harness.metrics.registry.get_sample_value(
        "alerter_collector_lag_seconds", {"collector": "app"}
    )
    assert lag is not None and lag >= 0.0  # set from the batch's read time when it is processed


def test_collectors_are_built_with_the_daemon_s_clock(harness: Harness) -> None:
    """The clock the daemon polls collectors with is the one a collector that stamps samples
    on its own thread (prometheus) is given."""
    assert harness.collectors["app"].clock is harness.daemon.clock


def test_samples_reach_the_engine_through_their_own_door(harness: Harness) -> None:
    """A collector's samples go to `process_samples` (never to `process`, which takes log
    lines) and are counted as the collector's events, as its log lines are."""
    c, engine = harness.collectors["app"], harness.engines[0]
    c.emit("hello")
    c.emit_samples(1.0, 0.0, 1.0)
    c.emit("boom")
    wait_for(lambda: c.acked == 2 and engine.seen == 5)
    assert [s.value for s in engine.samples] == [1.0, 0.0, 1.0]
    wait_for(lambda: harness.dispatchers[0].transitions)  # "boom"
    assert (
        harness.metrics.registry.get_sample_value("alerter_events_total", {"collector": "app"}) == 5
    )


def test_a_turn_of_the_main_loop_ends_when_its_drain_budget_is_spent(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However full the bus, the loop comes back for its watchdog ping, timers, dispatch and
    checkpoint once a turn has spent DRAIN_BUDGET_SECONDS (0 here: one batch a turn; with the
    dispatch interval 0 too, the dispatcher is due at every turn, so it must get a turn between
    any two batches). Without the budget a 3M-line flood held the loop 23 s in one turn."""
    monkeypatch.setattr("alerter.runtime.pipeline.DRAIN_BUDGET_SECONDS", 0.0)
    monkeypatch.setattr("alerter.runtime.daemon.DISPATCH_TICK_SECONDS", 0.0)
    order: list[str] = []  # what the main loop did, in order: "batch", "dispatch"

    def dispatch_tick(now: float) -> None:
        if order and order[-1] != "dispatch":  # (an idle loop ticks again and again)
            order.append("dispatch")

    monkeypatch.setattr(harness.dispatchers[0], "tick", dispatch_tick)
    engine = harness.engines[0]
    held, release = threading.Event(), threading.Event()
    process = engine.process

    def gated(events: LogLines, now: float) -> list[Transition]:
        order.append("batch")
        if order.count("batch") == 1:
            held.set()
            release.wait(10)
        return process(events, now)

    monkeypatch.setattr(engine, "process", gated)
    c = harness.collectors["app"]
    c.emit("first")
    assert held.wait(10)
    for i in range(20):  # queued while the engine is busy with the first
        c.emit(f"line {i}")
    release.set()
    wait_for(lambda: c.acked == 21)
    seen = list(order)
    assert seen.count("batch") == 21
    back_to_back = [i for i in range(len(seen) - 1) if seen[i] == seen[i + 1] == "batch"]
    assert back_to_back == [], seen  # each batch in a turn of its own


def record_watchdog(harness: Harness, monkeypatch: pytest.MonkeyPatch, order: list[str]) -> float:
    """Each WATCHDOG=1 the daemon sends is noted in `order` as "ping"; returns the interval
    between two pings."""
    ping = harness.daemon.sd.watchdog

    def watchdog() -> bool:
        order.append("ping")
        return ping()

    monkeypatch.setattr(harness.daemon.sd, "watchdog", watchdog)
    interval = harness.daemon.sd.watchdog_interval
    assert interval is not None
    return interval


def test_a_long_handle_of_transitions_pings_the_watchdog_between_its_parts(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storm of distinct keys gave one handle 75k transitions (18 s, WatchdogSec=30s): the
    dispatcher gets the main loop's watchdog ping as `alive`, and WATCHDOG=1 is sent when it
    calls it between the parts of its work, once due."""
    order: list[str] = []
    interval = record_watchdog(harness, monkeypatch, order)

    def slow_handle(
        transitions: list[Transition], now: float, alive: Callable[[], None] = lambda: None
    ) -> None:
        for t in transitions:
            order.append(t.alert.labels["key"])
            due = time.monotonic() + interval  # a slow part: the watchdog is due after it
            while time.monotonic() < due:
                pass
            alive()

    monkeypatch.setattr(harness.dispatchers[0], "handle", slow_handle)

    def storm(events: LogLines, now: float) -> list[Transition]:
        alerts = [
            Alert({"alertname": "K", "key": str(i)}, {}, "firing", 1.0, now) for i in range(3)
        ]
        return [Transition(now, "inactive", a) for a in alerts]

    monkeypatch.setattr(harness.engines[0], "process", storm)
    harness.collectors["app"].emit("storm")
    wait_for(lambda: "2" in order)
    assert order[order.index("0") :][:5] == ["0", "ping", "1", "ping", "2"], order


def test_a_long_engine_tick_pings_the_watchdog_before_the_dispatcher_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 100k alerts the engine's tick, its list of alerts and the dispatcher's part take
    a second each: the main loop's tick pings the watchdog between them, once due."""
    order: list[str] = []
    interval = record_watchdog(harness, monkeypatch, order)
    tick = harness.engines[0].tick

    def slow_tick(now: float, *args: Any) -> list[Transition]:
        order.append("tick")
        due = time.monotonic() + interval  # a slow part: the watchdog is due after it
        while time.monotonic() < due:
            pass
        return tick(now, *args)

    refresh = harness.dispatchers[0].refresh

    def noted_refresh(firing: Any) -> None:
        order.append("refresh")
        refresh(firing)

    monkeypatch.setattr(harness.engines[0], "tick", slow_tick)
    monkeypatch.setattr(harness.dispatchers[0], "refresh", noted_refresh)
    wait_for(lambda: "refresh" in order[order.index("tick") :] if "tick" in order else False)
    start = order.index("tick")
    assert order[start : order.index("refresh", start) + 1] == ["tick", "ping", "refresh"], order
