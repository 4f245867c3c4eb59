"""The dispatcher's Alertmanager semantics: timers, dedup, routes, silences, inhibition, restart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from alerter.dispatch import NotificationDispatcher
from alerter.dispatch.silences import silence_from_api
from alerter.store.db import StateStore
from alerter.testing import FixedClock, RecordingNotifier
from tests.conftest import wait_for

from .helpers import alert, inhibit, make_dispatcher, route, tr

T0 = 1_700_000_000.0
ROUTE = "{receiver: rec, group_by: [alertname], group_wait: 10s, group_interval: 1m, repeat_interval: 1h}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path)
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


class Harness:
    def __init__(
        self, store: StateStore, clock: FixedClock, route_text: str = ROUTE, **kw: Any
    ) -> None:
        self.store, self.clock = store, clock
        self.rec = RecordingNotifier("rec")
        self.other = RecordingNotifier("other")
        self.d: NotificationDispatcher = make_dispatcher(
            store,
            clock,
            route(route_text, ("rec", "other")),
            {"rec": self.rec, "other": self.other},
            **kw,  # (make_dispatcher's own keywords)
        )

    def at(self, offset: float) -> float:
        self.clock.set(T0 + offset)
        return T0 + offset

    def tick(self, offset: float) -> None:
        self.d.tick(self.at(offset))

    def settled(self) -> list[Any]:  # (RecordingNotifier.sent's)
        wait_for(lambda: self.d.pending_notifications() == 0)
        return list(self.rec.sent)


@pytest.fixture
def h(store: StateStore, clock: FixedClock) -> Iterator[Harness]:
    harness = Harness(store, clock)
    yield harness
    harness.d.stop()


def test_group_waits_group_wait_then_sends_all_its_alerts(h: Harness) -> None:
    h.d.handle([tr(alert(host="a")), tr(alert(host="b"))], h.at(0))
    h.tick(9.9)
    assert h.settled() == []
    h.tick(10)
    (n,) = h.rec.wait(1)
    assert n.status == "firing"
    assert n.group_labels == {"alertname": "HighLoad"}
    assert sorted(a.labels["host"] for a in n.alerts) == ["a", "b"]
    assert n.group_key == '{}:{alertname="HighLoad"}'


def test_new_alert_in_a_flushed_group_waits_for_group_interval(h: Harness) -> None:
    h.d.handle([tr(alert(host="a"))], h.at(0))
    h.tick(10)
    h.rec.wait(1)
    h.d.handle([tr(alert(host="b"))], h.at(20))
    h.tick(69)
    assert len(h.settled()) == 1
    h.tick(70)
    sent = h.rec.wait(2)
    assert len(sent[1].alerts) == 2


def test_unchanged_group_is_not_renotified_before_repeat_interval(h: Harness) -> None:
    h.d.handle([tr(alert(host="a"))], h.at(0))
    h.tick(10)
    h.rec.wait(1)
    for minute in range(1, 60):
        h.tick(10 + 60 * minute)
    assert len(h.settled()) == 1
    h.tick(10 + 3600)
    h.rec.wait(2)


def test_a_repeat_tells_the_annotations_the_alert_has_now(
    store: StateStore, clock: FixedClock
) -> None:
    # as Alertmanager tells what Prometheus last re-sent: a count's summary grows while firing
    h = Harness(store, clock)
    a = alert(host="a")
    h.d.handle([tr(a)], h.at(0))
    h.tick(10)
    h.rec.wait(1)
    now = replace(a, annotations={"summary": "500 failures"}, value=500.0)
    h.d.refresh([now, alert(host="never-held")])
    assert [x.annotations for x in h.d.firing()] == [{"summary": "500 failures"}]
    h.tick(10 + 3600)
    assert h.rec.wait(2)[1].alerts[0].annotations["summary"] == "500 failures"
    h.d.stop()


def test_resolved_alert_is_sent_when_receiver_wants_resolved(h: Harness) -> None:
    h.d.handle([tr(alert(host="a"))], h.at(0))
    h.tick(10)
    h.rec.wait(1)
    h.d.handle([tr(alert("resolved", T0 + 30, host="a"), "firing")], h.at(30))
    h.tick(70)
    n = h.rec.wait(2)[1]
    assert n.status == "resolved"
    assert n.alerts[0].ends_at == T0 + 30
    h.tick(130)
    assert len(h.settled()) == 2  # the resolved alert left the group


def test_resolved_alert_is_not_sent_when_receiver_does_not_want_resolved(h: Harness) -> None:
    h.rec.send_resolved = False
    h.d.handle([tr(alert(host="a")), tr(alert(host="b"))], h.at(0))
    h.tick(10)
    h.rec.wait(1)
    h.d.handle([tr(alert("resolved", T0 + 30, host="a"), "firing")], h.at(30))
    h.tick(70)
    h.d.handle([tr(alert("resolved", T0 + 80, host="b"), "firing")], h.at(80))
    h.tick(130)
    assert len(h.settled()) == 1


def test_alert_resolved_within_group_wait_is_never_notified(h: Harness) -> None:
    h.d.handle([tr(alert(host="a"))], h.at(0))
    h.d.handle([tr(alert("resolved", T0 + 5, host="a"), "firing")], h.at(5))
    h.tick(10)
    h.tick(70)
    assert h.settled() == []


def test_pending_transitions_are_ignored(h: Harness) -> None:
    h.d.handle([tr(alert("pending", host="a"), "inactive")], h.at(0))
    h.tick(100)
    assert h.settled() == []


def test_group_by_splits_groups_and_dots_group_by_every_label(
    store: StateStore, clock: FixedClock
) -> None:
    h = Harness(store, clock, "{receiver: rec, group_by: ['...'], group_wait: 0s}")
    try:
        h.d.handle([tr(alert(host="a")), tr(alert(host="b"))], h.at(0))
        sent = h.rec.wait(2)
        assert sorted(n.group_labels["host"] for n in sent) == ["a", "b"]
        assert all(len(n.alerts) == 1 for n in sent)
    finally:
        h.d.stop()


def test_group_wait_zero_sends_from_handle_without_waiting_for_a_tick(
    store: StateStore, clock: FixedClock
) -> None:
    h = Harness(store, clock, "{receiver: rec, group_wait: 0s}")
    try:
        h.d.handle([tr(alert(host="a"))], h.at(0))
        h.rec.wait(1)
    finally:
        h.d.stop()


def test_continue_sends_to_matching_siblings_and_unmatched_alerts_stay_at_the_parent(
    store: StateStore, clock: FixedClock
) -> None:
    text = """
receiver: rec
group_wait: 0s
routes:
  - {matchers: ['severity="critical"'], receiver: other, continue: true}
  - {matchers: ['team="db"'], receiver: rec}
"""
    h = Harness(store, clock, text)
    try:
        h.d.handle([tr(alert(severity="critical", team="db"))], h.at(0))
        h.other.wait(1)
        h.rec.wait(1)
        h.d.handle([tr(alert(alertname="Other", severity="info"))], h.at(1))
        sent = h.rec.wait(2)
        assert sent[1].alerts[0].labels["alertname"] == "Other"
        assert len(h.other.sent) == 1
    finally:
        h.d.stop()


def silence_host(h: Harness, host: str) -> str:
    """A silence of the alerts of `host` until 2100; returns its id."""
    return h.d.silences.add(
        silence_from_api(
            {
                "matchers": [{"name": "host", "value": host, "isRegex": False}],
                "endsAt": "2100-01-01T00:00:00Z",
                "createdBy": "me",
                "comment": "maintenance",
            },
            T0,
        ),
        T0,
    )


def test_silenced_alert_is_not_sent_and_is_sent_again_after_the_silence_expires(h: Harness) -> None:
    sid = silence_host(h, "a")
    h.d.handle([tr(alert(host="a")), tr(alert(host="b"))], h.at(0))
    h.tick(10)
    (n,) = h.rec.wait(1)
    assert [a.labels["host"] for a in n.alerts] == ["b"]
    h.d.silences.expire(sid, h.at(30))
    h.tick(70)
    n2 = h.rec.wait(2)[1]
    assert sorted(a.labels["host"] for a in n2.alerts) == ["a", "b"]
    assert h.d.status(alert(host="a"), T0 + 70)["silencedBy"] == []


def test_inhibited_alert_is_not_sent_while_its_source_fires(
    store: StateStore, clock: FixedClock
) -> None:
    rule = inhibit(
        "{source_matchers: ['alertname=\"HostDown\"'], target_matchers: ['severity=\"warning\"'], equal: [host]}"
    )
    h = Harness(
        store, clock, "{receiver: rec, group_by: ['...'], group_wait: 0s}", inhibit_rules=[rule]
    )
    try:
        h.d.handle([tr(alert(alertname="HostDown", host="a"))], h.at(0))
        h.d.handle(
            [tr(alert(severity="warning", host="a")), tr(alert(severity="warning", host="b"))],
            h.at(1),
        )
        sent = h.rec.wait(2)
        assert sorted(
            n.alerts[0].labels["alertname"] + n.alerts[0].labels["host"] for n in sent
        ) == ["HighLoadb", "HostDowna"]
        status = h.d.status(alert(severity="warning", host="a"), T0 + 1)
        assert status["inhibitedBy"] and status["state"] == "suppressed"
    finally:
        h.d.stop()


def test_action_notes_appear_in_the_notification(store: StateStore, clock: FixedClock) -> None:
    a = alert(host="a")
    notes = {a.fingerprint: ["restarted web.service at 12:03, 1 of 3 in the last hour"]}
    h = Harness(store, clock, "{receiver: rec, group_wait: 0s}", notes=lambda fp: notes.get(fp, []))
    try:
        h.d.handle([tr(a)], h.at(0))
        assert h.rec.wait(1)[0].alerts[0].action_notes == tuple(notes[a.fingerprint])
    finally:
        h.d.stop()


def test_synthetic_remediation_alert_goes_through_like_any_other(
    store: StateStore, clock: FixedClock
) -> None:
    h = Harness(store, clock, "{receiver: rec, group_wait: 0s}")
    try:
        synthetic = alert(alertname="RemediationExhausted", action="restart-web")
        h.d.handle([tr(synthetic, "inactive")], h.at(0))
        assert h.rec.wait(1)[0].alerts[0].labels["alertname"] == "RemediationExhausted"
    finally:
        h.d.stop()


def test_group_state_survives_a_restart_so_nothing_is_renotified(
    store: StateStore, clock: FixedClock
) -> None:
    h = Harness(store, clock)
    h.d.handle([tr(alert(host="a"))], h.at(0))
    h.tick(10)
    h.rec.wait(1)
    h.d.stop()
    h2 = Harness(store, clock)
    try:
        h2.tick(70)
        h2.tick(130)
        assert h2.settled() == []
        h2.d.handle([tr(alert("resolved", T0 + 140, host="a"), "firing")], h2.at(140))
        h2.tick(190)
        assert h2.rec.wait(1)[0].status == "resolved"
    finally:
        h2.d.stop()


def test_group_waiting_at_shutdown_is_flushed_after_restart(
    store: StateStore, clock: FixedClock
) -> None:
    h = Harness(store, clock)
    h.d.handle([tr(alert(host="a"))], h.at(0))
    h.d.stop()
    h2 = Harness(store, clock)
    try:
        h2.tick(10)
        assert h2.rec.wait(1)[0].alerts[0].labels["host"] == "a"
    finally:
        h2.d.stop()


def test_alertmanager_receiver_is_pushed_at_once_and_repushed_every_resend_interval(
    store: StateStore, clock: FixedClock
) -> None:
    from .helpers import notifier_config

    cfg = notifier_config(
        "{name: rec, type: alertmanager, urls: ['http://am:9093'], resend_interval: 1m}"
    )
    h = Harness(store, clock, ROUTE, configs={"rec": cfg})
    try:
        h.d.handle([tr(alert(host="a"))], h.at(0))
        h.rec.wait(1)
        h.tick(30)
        assert len(h.settled()) == 1
        h.d.handle([tr(alert(host="b"))], h.at(40))
        assert len(h.rec.wait(2)[1].alerts) == 2
        h.tick(99)
        assert len(h.settled()) == 2
        h.tick(100.5)
        h.rec.wait(3)
    finally:
        h.d.stop()


def test_an_alertmanager_group_pushes_each_change_at_once_and_looks_again_each_second(
    store: StateStore, clock: FixedClock
) -> None:
    """An Alertmanager receiver's group has no group_interval: a transition is pushed in the
    handle that brings it, however soon after the last push; what changes without one (here a
    silence that ends) is pushed at the group's next look, within RECHECK (1 s). It was looked
    at every dispatcher tick (0.1 s): 13% of a core with 2000 such groups."""
    from .helpers import notifier_config

    cfg = notifier_config("{name: rec, type: alertmanager, urls: ['http://am:9093']}")
    h = Harness(store, clock, ROUTE, configs={"rec": cfg})
    try:
        h.d.handle([tr(alert(host="a"))], h.at(0))
        h.rec.wait(1)
        h.d.handle([tr(alert(host="b"))], h.at(0.2))
        assert len(h.rec.wait(2)[1].alerts) == 2  # at once, 0.2 s after the first push
        sid = silence_host(h, "c")
        h.d.handle([tr(alert(host="c"))], h.at(0.4))
        h.tick(0.5)
        assert len(h.settled()) == 2  # c is silenced: nothing new to push
        h.d.silences.expire(sid, h.at(0.6))
        for t in (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6):
            h.tick(t)
        (*_, pushed) = h.settled()
        assert sorted(a.labels["host"] for a in pushed.alerts) == ["a", "b", "c"]
    finally:
        h.d.stop()


def test_alert_that_started_longer_than_group_wait_ago_flushes_a_new_group_at_once(
    h: Harness,
) -> None:
    h.d.handle([tr(alert(t=T0 - 600, host="a"))], h.at(0))
    h.rec.wait(1)


def test_a_flush_logs_one_info_line_for_its_notifications_each_at_debug(
    store: StateStore, clock: FixedClock
) -> None:
    """A storm of distinct keys queues a notification per key: a log line each at info level
    was a quarter of the time the main loop spent on them. One info line per flush counts
    them by receiver; each notification is at debug level."""
    h = Harness(store, clock, "{receiver: rec, group_by: [host], group_wait: 0s}")
    try:
        with capture_logs() as logs:
            h.d.handle([tr(alert(host=f"h{i}")) for i in range(5)], h.at(0))
        info = [e for e in logs if e["log_level"] == "info"]
        assert [(e["event"], e["count"], e["receivers"]) for e in info] == [
            ("notifications_queued", 5, {"rec": 5})
        ]
        assert sum(e["event"] == "notification_queued" for e in logs) == 5
        assert len(h.settled()) == 5
    finally:
        h.d.stop()


def test_a_long_handle_calls_alive_between_its_parts(
    store: StateStore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alive` (the main loop's watchdog ping) is called every ALIVE_EVERY transitions taken
    and groups flushed, so a storm of distinct keys does not starve the watchdog."""
    monkeypatch.setattr("alerter.dispatch.dispatcher.ALIVE_EVERY", 2, raising=False)
    h = Harness(store, clock, "{receiver: rec, group_by: [host], group_wait: 0s}")
    calls: list[int] = []
    try:
        transitions = [tr(alert(host=f"h{i}")) for i in range(5)]
        h.d.handle(transitions, h.at(0), lambda: calls.append(len(h.d._unsaved)))
        assert len(calls) == 4  # after 2 and 4 transitions taken, 2 and 4 groups flushed
        assert len(h.settled()) == 5
    finally:
        h.d.stop()


class SteppingClock(FixedClock):
    """Each reading of the monotonic clock moves it `step` seconds: a flush that takes long."""

    def __init__(self, start: float, step: float) -> None:
        super().__init__(start)
        self.step = step

    def monotonic(self) -> float:
        self.advance_monotonic(self.step)
        return super().monotonic()

    def advance_monotonic(self, seconds: float) -> None:
        with self._lock:
            self._mono += seconds


def test_a_long_flush_leaves_the_groups_it_has_no_time_for_to_the_next_tick(
    store: StateStore,
) -> None:
    """A flush takes at most FLUSH_SLICE of the main loop (a storm's 64k groups due at once
    held it 20 s, past the watchdog): the groups left are still due, the next tick flushes
    them first, and each notification goes out once."""
    clock = SteppingClock(T0, step=0.2)  # FLUSH_SLICE 0.25: two groups a flush
    h = Harness(store, clock, "{receiver: rec, group_by: [host], group_wait: 0s}")
    try:
        h.d.handle([tr(alert(host=f"h{i}")) for i in range(5)], T0)
        assert len(h.settled()) == 2
        h.d.tick(T0)
        assert len(h.settled()) == 4
        h.d.tick(T0)
        h.d.tick(T0)
        sent = h.settled()
        assert sorted(n.group_labels["host"] for n in sent) == [f"h{i}" for i in range(5)]
    finally:
        h.d.stop()


def test_an_alert_sent_to_several_receivers_reads_its_action_notes_once_a_flush(
    store: StateStore, clock: FixedClock
) -> None:
    """Rendering asks the action history for the alert's notes: once per alert and flush,
    not once per receiver it goes to (a store query each)."""
    asked: list[str] = []

    def notes(fingerprint: str) -> list[str]:
        asked.append(fingerprint)
        return ["restart web.service: done"]

    h = Harness(
        store,
        clock,
        "{receiver: rec, group_by: [host], group_wait: 0s,"
        " routes: [{receiver: rec, continue: true}, {receiver: other}]}",
        notes=notes,
    )
    try:
        a = alert(host="a")
        h.d.handle([tr(a)], h.at(0))
        (to_rec,), (to_other,) = h.rec.wait(1), h.other.wait(1)
        assert to_rec.alerts[0].action_notes == to_other.alerts[0].action_notes
        assert to_rec.alerts[0].action_notes == ("restart web.service: done",)
        assert asked == [a.fingerprint]
    finally:
        h.d.stop()


def test_the_aggregation_groups_held_are_a_gauge(store: StateStore, clock: FixedClock) -> None:
    """alerter_dispatcher_aggregation_groups, as Alertmanager's: a route grouping by a per-key
    label holds a group per key, and a group leaves once its alerts have resolved."""
    from prometheus_client import CollectorRegistry

    from alerter.runtime.metrics import Metrics

    m = Metrics(CollectorRegistry())
    h = Harness(store, clock, "{receiver: rec, group_by: [host], group_wait: 0s}", metrics=m)
    try:
        h.d.handle([tr(alert(host=f"h{i}")) for i in range(3)], h.at(0))
        h.tick(1)
        assert m.registry.get_sample_value("alerter_dispatcher_aggregation_groups") == 3
        h.d.handle([tr(alert("resolved", host="h0"), "firing")], h.at(2))
        h.tick(400)  # past group_interval (5m): the resolve goes out and h0's group leaves
        assert m.registry.get_sample_value("alerter_dispatcher_aggregation_groups") == 2
    finally:
        h.d.stop()
