"""A receiver that was down and comes back: an Alertmanager lane sends the latest state of a
group, not pushes that newer rows of the same group have superseded; other receivers get
every row, in order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alerter.dispatch.lanes import Lane
from alerter.dispatch.outbox import Outbox
from alerter.dispatch.outboxrows import enqueue
from alerter.errors import NotifyError
from alerter.notifiers.model import Notification, NotifiedAlert, Status
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FixedClock, RecordingNotifier
from tests.conftest import wait_for


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path)
    yield s
    s.close()


def push(status: Status, hosts: str, t: float, group: str = "g") -> Notification:
    alerts = tuple(
        NotifiedAlert(
            status=status,
            labels={"alertname": "Down", "host": h},
            annotations={},
            starts_at=t,
            ends_at=None if status == "firing" else t + 60,
            fingerprint=f"fp-{h}",
        )
        for h in hosts
    )
    return Notification(
        receiver="am", group_key=f"{{}}:{group}", group_labels={}, alerts=alerts, time=t
    )


def count(metrics: Metrics, outcome: str) -> float:
    v = metrics.registry.get_sample_value(
        "alerter_notifications_total", {"notifier": "am", "outcome": outcome}
    )
    return v or 0.0


def outage(store: StateStore, supersede: bool, pushes: list[Notification]) -> list[Notification]:
    """The receiver fails the first push; the others are queued behind it; it comes back.
    Returns what it got. Once the lane is empty, what it remembered of the rows it read to
    judge them is gone too (else it grew with every alert ever pushed, for the daemon's life)."""
    clock = FixedClock()
    rec = RecordingNotifier("am")
    rec.fail_with = NotifyError("connection refused", retry=True)
    metrics = Metrics(CollectorRegistry())
    lane = Lane("am", rec, 3600.0, 10.0, supersede)
    outbox = Outbox(store, {"am": lane}, metrics, clock)
    outbox.start()
    try:
        with store.transaction() as db:
            enqueue(db, ["am"], pushes[0], clock.now())
        outbox.wake("am")
        wait_for(lambda: count(metrics, "retry") >= 1)
        for n in pushes[1:]:
            clock.advance(1)
            with store.transaction() as db:
                enqueue(db, ["am"], n, clock.now())
            outbox.wake("am")
        rec.fail_with = None
        clock.advance(120)  # past any backoff: the receiver is back
        outbox.wake("am")
        wait_for(lambda: outbox.pending() == 0)
        superseded = count(metrics, "superseded")
        assert count(metrics, "success") + superseded == len(pushes)
        assert superseded == len(pushes) - len(rec.sent)
        wait_for(lambda: all(r.empty() for r in outbox._latest.values()))
        return list(rec.sent)
    finally:
        outbox.stop()


def states(sent: list[Notification]) -> list[tuple[str, str]]:
    return [(n.status, "".join(a.labels["host"] for a in n.alerts)) for n in sent]


def test_alertmanager_back_from_an_outage_gets_the_resolve_not_the_stale_firing_push(
    store: StateStore,
) -> None:
    t = 1_700_000_000.0
    sent = outage(store, True, [push("firing", "0123456789", t), push("resolved", "0123456789", t)])
    assert states(sent) == [("resolved", "0123456789")]


@pytest.mark.parametrize("chars", [None, 1])  # 1: the later rows are read one at a time
def test_a_push_is_superseded_only_when_later_rows_of_its_group_cover_every_alert(
    store: StateStore, chars: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chars is not None:
        import alerter.dispatch.outbox

        monkeypatch.setattr(alerter.dispatch.outbox, "READ_AHEAD_CHARS", chars)
    t = 1_700_000_000.0
    sent = outage(
        store,
        True,
        [
            push("firing", "ab", t),  # b is in no later row of the group: sent
            push("firing", "a", t, group="other"),  # another group: does not cover
            push("firing", "a", t),  # a re-push: covered by the next row
            push("resolved", "a", t),
        ],
    )
    assert states(sent) == [("firing", "ab"), ("firing", "a"), ("resolved", "a")]


def test_a_receiver_that_keeps_the_history_gets_every_row_in_order(store: StateStore) -> None:
    t = 1_700_000_000.0
    sent = outage(store, False, [push("firing", "01", t), push("resolved", "01", t)])
    assert states(sent) == [("firing", "01"), ("resolved", "01")]
