"""The outbox reads a lane's rows a batch at a time and deletes the rows it is done with in
batches, and still keeps its promises: a crash loses nothing and sends again at most the batch
not deleted yet, order per lane holds across batches and rows appended meanwhile, a row being
retried holds back the rows behind it, and a reload does not send again what was sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import alerter.dispatch.outbox as outbox_module
import alerter.dispatch.outboxdeletes as deletes_module
from alerter.dispatch.lanes import Lane
from alerter.dispatch.outbox import Outbox
from alerter.dispatch.outboxrows import enqueue
from alerter.errors import NotifyError
from alerter.notifiers.model import Notification
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FixedClock, RecordingNotifier
from tests.conftest import wait_for


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path)
    yield s
    s.close()


def note(i: int) -> Notification:
    return Notification(receiver="rec", group_key=f"g{i}", group_labels={}, alerts=(), time=i)


def keys(sent: list[Notification]) -> list[str]:
    return [n.group_key for n in sent]


def add(store: StateStore, first: int, last: int, clock: FixedClock) -> None:
    with store.transaction() as db:
        for i in range(first, last):
            enqueue(db, ["rec"], note(i), clock.now())


def stored(store: StateStore) -> int:
    return int(store.query("SELECT COUNT(*) FROM outbox")[0][0])


def outbox(store: StateStore, rec: RecordingNotifier, clock: FixedClock) -> Outbox:
    metrics = Metrics(CollectorRegistry())
    return Outbox(store, {"rec": Lane("rec", rec, 3600.0, 10.0)}, metrics, clock)


class Hangs(RecordingNotifier):
    """Sends `until` notifications, then hangs in the next send until `release` is set."""

    def __init__(self, until: int) -> None:
        super().__init__()
        self.until = until
        self.entered, self.release = threading.Event(), threading.Event()

    def send(self, notification: Notification) -> None:
        if len(self.sent) == self.until:
            self.entered.set()
            self.release.wait(30)
        super().send(notification)


def test_a_lane_sends_the_rows_it_has_read_while_the_main_loop_holds_the_store(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each send read its row and deleted it in transactions of its own, under the store's
    lock that the main loop's checkpoint holds while it writes: a busy main loop held back every
    send (about 220 a second per lane while it was busy). The rows read go out meanwhile."""
    monkeypatch.setattr(deletes_module, "DELETE_EVERY", 60.0)  # (only the batch size or idling)
    monkeypatch.setattr(outbox_module, "COUNT_SPACING", 60.0)
    clock = FixedClock()
    add(store, 0, 50, clock)
    rec = Hangs(until=1)
    box = outbox(store, rec, clock)
    box.start()
    try:
        assert rec.entered.wait(10)
        with store.transaction():  # a long checkpoint
            rec.until = -1
            rec.release.set()
            wait_for(lambda: len(rec.sent) == 50)
        wait_for(lambda: stored(store) == 0)
        assert keys(rec.sent) == [f"g{i}" for i in range(50)]
    finally:
        box.stop()


def test_a_lane_does_not_wait_for_another_lanes_delete_stuck_behind_the_main_loop(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deletes_module, "DELETE_EVERY", 0.0)  # each row done is due at once
    monkeypatch.setattr(outbox_module, "COUNT_SPACING", 60.0)
    clock = FixedClock()
    recs = {"a": Hangs(until=1), "b": Hangs(until=1)}
    with store.transaction() as db:
        for i in range(20):
            enqueue(db, ["a", "b"], note(i), clock.now())
    metrics = Metrics(CollectorRegistry())
    lanes = {lid: Lane(lid, rec, 3600.0, 10.0) for lid, rec in recs.items()}
    box = Outbox(store, lanes, metrics, clock)
    box.start()
    try:
        assert all(rec.entered.wait(10) for rec in recs.values())
        with store.transaction():  # a long checkpoint: the first lane's DELETE waits for it
            for rec in recs.values():
                rec.until = -1
                rec.release.set()
            wait_for(lambda: max(len(rec.sent) for rec in recs.values()) == 20)
        wait_for(lambda: stored(store) == 0)
    finally:
        box.stop()


def test_a_crash_sends_again_at_most_the_batch_not_deleted_and_loses_nothing(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deletes_module, "DELETE_BATCH", 10)
    monkeypatch.setattr(deletes_module, "DELETE_EVERY", 60.0)
    monkeypatch.setattr(outbox_module, "READ_AHEAD", 7)
    clock = FixedClock()
    add(store, 0, 40, clock)
    first = Hangs(until=25)
    crashed = outbox(store, first, clock)
    crashed.start()
    try:
        assert first.entered.wait(10)  # 25 sent, the 26th in flight: the process dies here
        after = StateStore(tmp_path)  # the next start: what is on disk
        try:
            second = RecordingNotifier()
            box = outbox(after, second, FixedClock())
            box.start()
            try:
                wait_for(lambda: stored(after) == 0)
            finally:
                box.stop()
        finally:
            after.close()
    finally:
        first.release.set()
        crashed.stop()
    again = keys(second.sent)
    assert again == [f"g{i}" for i in range(40 - len(again), 40)]  # nothing lost, in order
    assert 40 - len(again) >= 25 - 10  # at most one batch sent twice


def test_rows_appended_while_a_batch_is_out_go_after_it_and_memory_after_the_store(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "READ_AHEAD", 3)
    clock = FixedClock()
    add(store, 0, 5, clock)
    box: Outbox

    class AppendsMeanwhile(RecordingNotifier):
        def send(self, notification: Notification) -> None:
            if notification.group_key == "g1":  # the first batch is read: rows come in
                box.hold("rec", note(100), clock.now())  # (the store refused a checkpoint)
                add(store, 5, 8, clock)
            super().send(notification)

    rec = AppendsMeanwhile()
    box = outbox(store, rec, clock)
    box.start()
    try:
        rec.wait(9)
        assert keys(rec.sent) == [f"g{i}" for i in (*range(8), 100)]
    finally:
        box.stop()


def test_big_rows_are_read_a_few_at_a_time_and_go_out_in_order(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "READ_AHEAD_CHARS", 1)  # one row per read
    clock = FixedClock()
    add(store, 0, 5, clock)
    rec = RecordingNotifier()
    box = outbox(store, rec, clock)
    box.start()
    try:
        rec.wait(5)
        assert keys(rec.sent) == [f"g{i}" for i in range(5)]
    finally:
        box.stop()


def test_a_row_being_retried_holds_back_the_rows_read_with_it(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "READ_AHEAD", 2)
    clock = FixedClock()
    add(store, 0, 5, clock)
    tried: list[str] = []

    class FailsFirst(RecordingNotifier):
        def send(self, notification: Notification) -> None:
            tried.append(notification.group_key)
            super().send(notification)

    rec = FailsFirst()
    rec.fail_with = NotifyError("503", retry=True)
    box = outbox(store, rec, clock)
    box.start()
    try:
        wait_for(lambda: len(tried) >= 1)
        clock.advance(120)  # past the first backoff: tried again, failing again
        box.wake("rec")
        wait_for(lambda: len(tried) >= 2)
        rec.fail_with = None
        clock.advance(120)
        box.wake("rec")
        rec.wait(5)
        assert tried[:2] == ["g0", "g0"]
        assert keys(rec.sent) == [f"g{i}" for i in range(5)]
    finally:
        box.stop()


def test_a_reload_does_not_send_again_what_the_old_outbox_sent(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop(wait=False) leaves a send in flight to its thread; the rows sent before it are
    deleted by stop itself, before the next config's outbox reads the lane."""
    monkeypatch.setattr(deletes_module, "DELETE_EVERY", 60.0)
    clock = FixedClock()
    add(store, 0, 6, clock)
    old_rec = Hangs(until=5)
    old = outbox(store, old_rec, clock)
    old.start()
    try:
        assert old_rec.entered.wait(10)
        old.stop(wait=False)
        new_rec = RecordingNotifier()
        new = outbox(store, new_rec, clock)
        new.start()
        try:
            new_rec.wait(1)
            assert keys(new_rec.sent) == ["g5"]  # (the one in flight: at least once)
        finally:
            new.stop()
    finally:
        old_rec.release.set()


def test_rows_sent_while_the_store_refused_their_delete_are_deleted_once_it_takes_writes(
    store: StateStore,
) -> None:
    """They are not sent again meanwhile, nor counted in the queue; the delete was tried again
    only with the next row sent, so an idle lane kept them (sent again after a restart)."""
    clock = FixedClock()
    add(store, 0, 3, clock)
    store.query("PRAGMA query_only = ON")  # a read-only disk
    rec = RecordingNotifier()
    box = outbox(store, rec, clock)
    box.start()
    try:
        rec.wait(3)
        wait_for(lambda: box.pending() == 0)
        store.query("PRAGMA query_only = OFF")
        wait_for(lambda: stored(store) == 0)
        assert len(rec.sent) == 3
    finally:
        box.stop()
        store.query("PRAGMA query_only = OFF")


@pytest.mark.parametrize("supersede", [False, True])  # a webhook's lane, an Alertmanager's
@pytest.mark.parametrize("payload", ["not json", "[]", '{"receiver": "rec"}', '{"alerts": 5}'])
def test_a_stored_row_that_is_not_a_notification_is_dropped_not_held_forever(
    store: StateStore, payload: str, supersede: bool
) -> None:
    """A damaged row (a damaged store, a row written by hand) stopped its lane for good: each
    read failed on it, and every notification behind it waited. It is dropped, said, counted;
    the rows around it go out in order."""
    from structlog.testing import capture_logs

    from alerter.notifiers.model import NotifiedAlert

    clock = FixedClock()

    def with_alert(i: int) -> Notification:  # (a superseding lane reads the later rows' alerts)
        a = NotifiedAlert("firing", {"k": str(i)}, {}, 1.0, None, f"fp{i}")
        return Notification("rec", f"g{i}", {}, (a,), float(i))

    with store.transaction() as db:
        for i in range(2):
            enqueue(db, ["rec"], with_alert(i), clock.now())
        db.execute(
            "INSERT INTO outbox (notifier, created, next_attempt, attempts, payload) "
            "VALUES ('rec', ?, ?, 0, ?)",
            (clock.now(), clock.now(), payload),
        )
        for i in range(2, 4):
            enqueue(db, ["rec"], with_alert(i), clock.now())
    rec = RecordingNotifier("rec")
    metrics = Metrics(CollectorRegistry())
    lane = Lane("rec", rec, 3600.0, 10.0, supersede=supersede)
    box = Outbox(store, {"rec": lane}, metrics, clock)
    with capture_logs() as logs:
        box.start()
        try:
            rec.wait(4, timeout=10)
            wait_for(lambda: stored(store) == 0)
        finally:
            box.stop()
    assert keys(rec.sent) == ["g0", "g1", "g2", "g3"]
    (dropped,) = [e for e in logs if e["event"] == "notification_dropped"]
    assert dropped["reason"] == "unreadable" and dropped["log_level"] == "error"
    assert [e for e in logs if e["event"] == "notification_worker_failed"] == []
    value = metrics.registry.get_sample_value(
        "alerter_notifications_total", {"notifier": "rec", "outcome": "dropped"}
    )
    assert value == 1
