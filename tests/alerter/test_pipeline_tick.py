"""The main loop's tick hands on what changed (alerter.runtime.pipeline.Pipeline.tick): the
dispatcher holds every firing alert as the engine has it now, whichever rules changed since its
last refresh; repeats, silences and inhibitions that end go out as before; the actions get the
alerts that list actions and can ask about any firing one; alerter_alerts counts them all."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerter.core.events import LogBatch, LogEvent
from alerter.dispatch import NotificationDispatcher
from alerter.dispatch.config import InhibitRuleConfig
from alerter.dispatch.silences import silence_from_api
from alerter.rules.alert import Alert, Transition
from alerter.rules.engine import Engine
from alerter.runtime.checkpoint import Checkpointer, StagedPositions
from alerter.runtime.metrics import Metrics
from alerter.runtime.pipeline import Pipeline
from alerter.runtime.running import Running
from alerter.runtime.tuning import HeapTrim
from alerter.store.db import StateStore
from alerter.testing import FixedClock, RecordingNotifier
from tests.alerter.dispatch.helpers import inhibit, make_dispatcher, route
from tests.conftest import wait_for
from tests.rules.helpers import engine

T0 = 1_700_000_000.0
RULES = """
groups:
  - name: g
    interval: 10s
    rules:
      - alert: Failures
        logs: {match: 'fail host=(?P<host>\\S+)'}
        aggregate: count
        over: 2h
        by: [host]
        threshold: ">= 1"
        annotations: {summary: "{{ value }} failures"}
      - alert: HostDown
        logs: {match: 'down host=(?P<host>\\S+)'}
        aggregate: count
        over: 60s
        by: [host]
        threshold: ">= 1"
        actions: [restart]
      - alert: Slow
        logs: {match: 'slow host=(?P<host>\\S+)'}
        aggregate: count
        over: 2h
        by: [host]
        threshold: ">= 1"
        for: 1h
"""
ROUTE = "{receiver: rec, group_by: [alertname], group_wait: 10s, group_interval: 1m, repeat_interval: 1h}"


class RecordingActions:
    """What the tick hands the actions: the alerts, and which fingerprints `live` holds."""

    def __init__(self) -> None:
        self.ticks: list[tuple[list[str], Container[str] | None]] = []
        self.sequences: list[Sequence[Alert]] = []

    def handle(self, transitions: Sequence[Transition], now: float) -> None:
        pass

    def tick(self, firing: Sequence[Alert], now: float, live: Container[str] | None = None) -> None:
        self.ticks.append(([a.fingerprint for a in firing], live))
        self.sequences.append(firing)

    def history(self, fingerprint: str | None = None) -> list[dict[str, Any]]:
        return []

    def notes(self, fingerprint: str) -> list[str]:
        return []

    def raised(self) -> set[str]:
        return set()

    def durable(self) -> list[Any]:
        return []

    def stop(self) -> None:
        pass


class Loop:
    """A Pipeline on the real engine and dispatcher, driven as the daemon's main loop drives it
    (batches handled as they are processed; a tick, then the dispatcher's tick)."""

    def __init__(
        self,
        tmp_path: Path,
        rules: str = RULES,
        route_text: str = ROUTE,
        inhibit_rules: Sequence[InhibitRuleConfig] = (),
    ) -> None:
        self.clock = FixedClock(T0)
        self.store = StateStore(tmp_path)
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        checkpoint = Checkpointer(self.store, StagedPositions(self.store), self.metrics)
        self.pipeline = Pipeline(self.clock, self.metrics, checkpoint, HeapTrim())
        self.rec = RecordingNotifier("rec")
        self.actions = RecordingActions()
        self.rs = self.running(engine(rules), route_text, inhibit_rules)

    def running(
        self, e: Engine, route_text: str = ROUTE, inhibit_rules: Sequence[InhibitRuleConfig] = ()
    ) -> Running:
        d = make_dispatcher(
            self.store,
            self.clock,
            route(route_text),
            {"rec": self.rec},
            inhibit_rules=inhibit_rules,
        )
        rs = Running(None, e, d, self.actions)  # type: ignore[arg-type]  # (no config read)
        self.pipeline.running = rs
        return rs

    @property
    def dispatcher(self) -> NotificationDispatcher:
        d = self.rs.dispatcher
        assert isinstance(d, NotificationDispatcher)
        return d

    def lines(self, *lines: str) -> None:
        now = self.clock.now()
        batch = LogBatch.of_events("app", now, [LogEvent(now, "app", x) for x in lines])
        with self.pipeline.engine_lock:
            transitions = self.rs.engine.process(batch, now)
        self.pipeline.handle(transitions, now)

    def run_until(self, offset: float, step: float = 10.0) -> None:
        """Ticks every `step` seconds until T0 + offset (no line meanwhile)."""
        while self.clock.now() < T0 + offset:
            self.clock.advance(min(step, T0 + offset - self.clock.now()))
            now = self.clock.now()
            self.pipeline.tick(self.rs, now)
            self.dispatcher.tick(now)

    def held(self) -> dict[str, float]:
        return {a.labels["host"]: a.value for a in self.dispatcher.firing()}

    def close(self) -> None:
        self.dispatcher.stop()
        self.store.close()


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    lp = Loop(tmp_path)
    yield lp
    lp.close()


def test_a_repeat_tells_the_value_a_count_reached_long_before_it(loop: Loop) -> None:
    loop.lines("fail host=a", "fail host=b")
    loop.run_until(20)
    (first,) = loop.rec.wait(1)
    assert [a.annotations["summary"] for a in first.alerts] == ["1 failures"] * 2
    loop.run_until(100)
    loop.lines("fail host=a", "fail host=a")  # a's count grows; b stays as it is
    loop.run_until(3620)  # idle for an hour: the repeat
    repeat = loop.rec.wait(2)[1]
    assert {a.labels["host"]: a.annotations["summary"] for a in repeat.alerts} == {
        "a": "3 failures",
        "b": "1 failures",
    }
    assert loop.held() == {"a": 3.0, "b": 1.0}


def test_an_alert_silenced_when_it_fired_is_sent_once_the_silence_ends(loop: Loop) -> None:
    sid = loop.dispatcher.silences.add(
        silence_from_api(
            {
                "matchers": [{"name": "host", "value": "a", "isRegex": False}],
                "endsAt": "2100-01-01T00:00:00Z",
                "createdBy": "me",
                "comment": "maintenance",
            },
            T0,
        ),
        T0,
    )
    loop.lines("fail host=a")
    loop.run_until(300)
    assert loop.rec.sent == []
    loop.dispatcher.silences.expire(sid, loop.clock.now())
    loop.run_until(400)  # nothing changed in the engine meanwhile
    (n,) = loop.rec.wait(1)
    assert [(a.labels["host"], a.annotations["summary"]) for a in n.alerts] == [("a", "1 failures")]


def test_an_alert_inhibited_while_its_source_fired_is_sent_once_the_source_resolves(
    tmp_path: Path,
) -> None:
    rule = inhibit(
        "{source_matchers: ['alertname=\"HostDown\"'], target_matchers: ['alertname=\"Failures\"'], equal: [host]}"
    )
    loop = Loop(
        tmp_path,
        route_text="{receiver: rec, group_by: ['...'], group_wait: 0s}",
        inhibit_rules=[rule],
    )
    try:
        loop.lines("down host=a")
        loop.run_until(10)
        loop.lines("fail host=a")
        loop.run_until(30)
        (down,) = loop.rec.wait(1)
        assert down.alerts[0].labels["alertname"] == "HostDown"
        # HostDown's line leaves its window at 70: resolved; Failures is told at its group's
        # next flush (group_interval: 5m)
        loop.run_until(400)
        wait_for(lambda: len(loop.rec.sent) == 3)
        told = sorted((n.alerts[0].labels["alertname"], n.status) for n in loop.rec.sent)
        assert told == [("Failures", "firing"), ("HostDown", "firing"), ("HostDown", "resolved")]
    finally:
        loop.close()


def test_of_two_rules_firing_one_fingerprint_the_later_ones_alert_is_held(tmp_path: Path) -> None:
    """As a refresh with every alert leaves it, though only the earlier rule changed."""
    twice = """
groups:
  - name: g
    interval: 10s
    rules:
      - alert: Failures
        logs: {match: 'fail host=(?P<host>\\S+)'}
        aggregate: count
        over: 2h
        by: [host]
        threshold: ">= 1"
      - alert: Failures
        logs: {match: 'fail host=(?P<host>\\S+) again'}
        aggregate: count
        over: 2h
        by: [host, user]  # (no user: the same labels)
        threshold: ">= 1"
"""
    loop = Loop(tmp_path, rules=twice)
    try:
        loop.lines("fail host=a again")
        loop.run_until(20)
        assert loop.held() == {"a": 1.0}
        loop.lines("fail host=a", "fail host=a")  # the first rule: 3, the second: 1
        loop.run_until(40)
        assert loop.held() == {"a": 1.0}
    finally:
        loop.close()


def test_after_a_reload_the_new_dispatcher_holds_the_alerts_as_the_engine_has_them(
    loop: Loop,
) -> None:
    loop.lines("fail host=a")
    loop.run_until(20)
    loop.rec.wait(1)
    loop.lines("fail host=a")
    loop.run_until(40)
    assert loop.held() == {"a": 2.0}
    loop.dispatcher.persist(loop.clock.now())
    new = engine(RULES)
    new.take_over(loop.rs.engine, loop.clock.now())  # type: ignore[arg-type]
    loop.dispatcher.stop()
    loop.rs = loop.running(new)  # its groups read from the store: a as it fired
    assert loop.held() == {"a": 1.0}
    loop.run_until(50)
    assert loop.held() == {"a": 2.0}


def test_the_actions_get_the_alerts_listing_actions_and_may_ask_about_any(loop: Loop) -> None:
    loop.lines("fail host=a", "down host=b")
    loop.run_until(10)
    fps = {a.labels["host"]: a.fingerprint for a in loop.rs.engine.alerts()}
    acting, live = loop.actions.ticks[-1]
    assert acting == [fps["b"]]  # (Failures lists no action)
    assert live is not None and fps["a"] in live and fps["b"] in live and "x" not in live


def test_the_actions_get_the_same_tuple_while_no_rule_listing_actions_changed(
    loop: Loop,
) -> None:
    loop.lines("fail host=a", "down host=b")
    loop.run_until(30)
    loop.lines("fail host=a")  # (Failures lists no action)
    loop.run_until(50)
    loop.lines("down host=c")
    loop.run_until(60)
    first, *same, last = loop.actions.sequences
    assert len(same) == 4 and all(s is first for s in same)
    assert last is not first and "c" in {a.labels["host"] for a in last}


def test_alerter_alerts_counts_by_name_and_state_and_drops_what_is_gone(loop: Loop) -> None:
    def value(name: str, state: str) -> float | None:
        return loop.registry.get_sample_value("alerter_alerts", {"alertname": name, "state": state})

    loop.lines("fail host=a", "fail host=b", "down host=c", "slow host=d")
    loop.run_until(10)
    assert (value("Failures", "firing"), value("HostDown", "firing")) == (2.0, 1.0)
    assert (value("Failures", "pending"), value("Slow", "pending")) == (None, 1.0)
    assert loop.pipeline.alert_counts() == {"pending": 1, "firing": 3}
    loop.run_until(200)  # c's line left its window
    assert (value("Failures", "firing"), value("HostDown", "firing")) == (2.0, None)
    assert loop.pipeline.alert_counts() == {"pending": 1, "firing": 2}


def test_a_tick_hands_the_dispatcher_nothing_when_nothing_changed(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshed: list[list[str]] = []
    refresh: Callable[[Sequence[Alert]], None] = loop.dispatcher.refresh

    def noted(firing: Sequence[Alert]) -> None:
        refreshed.append([a.labels["host"] for a in firing])
        refresh(firing)

    monkeypatch.setattr(loop.dispatcher, "refresh", noted)
    loop.lines("fail host=a", "down host=b")
    loop.run_until(30)
    loop.lines("fail host=a")
    loop.run_until(50)
    assert refreshed == [["a", "b"], [], [], ["a"], []]
