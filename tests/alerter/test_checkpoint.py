"""The checkpoint: what a batch changed is durable together or not at all, and a store that
refuses writes costs nothing but the writes (alerting and notifying go on from memory)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerter.actions.history import OK, RUNNING, ActionHistory
from alerter.dispatch.dispatcher import NotificationDispatcher
from alerter.runtime.checkpoint import Checkpointer, StagedPositions
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.store.snapshots import read_snapshot
from alerter.testing import FixedClock, RecordingNotifier
from tests.alerter.dispatch.helpers import alert, make_dispatcher, route, tr
from tests.conftest import wait_for


def refuse_writes(store: StateStore, refuse: bool) -> None:
    """The store answers writes as a read-only disk would (SQLite's query_only)."""
    store.query(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def outbox_rows(store: StateStore) -> int:
    return int(store.query("SELECT COUNT(*) FROM outbox")[0][0])


class FailingPart:
    """A durable part whose write fails as a full disk does."""

    def __init__(self) -> None:
        self.outcomes: list[bool] = []

    def dirty(self) -> bool:
        return True

    def write(self, db: sqlite3.Connection, now: float, alive: Callable[[], None]) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    def written(self, ok: bool) -> None:
        self.outcomes.append(ok)


def test_positions_are_staged_until_the_commit_that_covers_them(
    store: StateStore, metrics: Metrics
) -> None:
    positions = StagedPositions(store)
    cp = Checkpointer(store, positions, metrics)
    positions.save_positions("app", {"f": "10"})
    assert store.load_positions("app") == {}  # not durable yet
    assert positions.load_positions("app") == {"f": "10"}  # but the collector sees it
    assert cp.commit(lambda: {"n": 1}, [], 1.0)
    assert store.load_positions("app") == {"f": "10"}
    assert read_snapshot(store) == {"n": 1}
    positions.delete_positions("app", ["f"])
    assert positions.load_positions("app") == {}
    assert store.load_positions("app") == {"f": "10"}
    assert cp.commit(lambda: {"n": 1}, [], 2.0)
    assert store.load_positions("app") == {}


def test_a_failed_commit_writes_nothing_and_the_next_one_writes_everything(
    store: StateStore, metrics: Metrics
) -> None:
    positions = StagedPositions(store)
    cp = Checkpointer(store, positions, metrics)
    positions.save_positions("app", {"f": "10"})
    part = FailingPart()
    assert not cp.commit(lambda: {"n": 1}, [part], 1.0)
    # Atomic: neither the engine state nor the position went in without the part's rows.
    assert store.load_positions("app") == {}
    assert read_snapshot(store) is None
    assert part.outcomes == [False]
    assert cp.error == "database or disk is full"
    assert (
        metrics.registry.get_sample_value("alerter_state_errors_total", {"operation": "checkpoint"})
        == 1
    )
    positions.save_positions("app", {"g": "5"})  # staged meanwhile, kept with the given-back one
    assert cp.commit(lambda: {"n": 2}, [], 2.0)
    assert store.load_positions("app") == {"f": "10", "g": "5"}
    assert read_snapshot(store) == {"n": 2}
    assert cp.error is None


def test_a_snapshot_that_cannot_be_encoded_raises_and_keeps_what_was_staged(
    store: StateStore, metrics: Metrics
) -> None:
    """The engine's rows are encoded within the transaction: one that cannot be raises out of
    the commit (the main loop's guard logs it), nothing of that commit is in the store, and the
    staged positions go with the next commit."""
    from alerter.rules.rows import Rows

    def broken() -> Any:
        yield [1]
        raise ValueError("not encodable")

    positions = StagedPositions(store)
    cp = Checkpointer(store, positions, metrics)
    assert cp.commit(lambda: {"n": 1}, [], 1.0)
    positions.save_positions("app", {"f": "10"})
    with pytest.raises(ValueError, match="not encodable"):
        cp.commit(lambda: {"n": 2, "rows": Rows(broken)}, [], 2.0)
    assert read_snapshot(store) == {"n": 1}
    assert store.load_positions("app") == {}
    assert cp.commit(lambda: {"n": 3}, [], 3.0)
    assert store.load_positions("app") == {"f": "10"}
    assert read_snapshot(store) == {"n": 3}


def test_a_given_back_position_never_overwrites_a_newer_one(store: StateStore) -> None:
    positions = StagedPositions(store)
    positions.save_positions("app", {"f": "10"})
    taken = positions.take()
    positions.save_positions("app", {"f": "20"})
    positions.give_back(*taken)
    assert positions.load_positions("app") == {"f": "20"}


def test_commits_are_spaced_by_their_cost(store: StateStore, metrics: Metrics) -> None:
    readings = iter([100.0, 100.3])  # the monotonic clock at a commit's start and end
    cp = Checkpointer(store, StagedPositions(store), metrics, monotonic=lambda: next(readings))
    assert not cp.due(0.0, [])  # nothing processed: nothing to commit
    cp.note_work(0.0)
    assert cp.due(0.0, [])
    assert cp.commit(lambda: {"big": "x" * 1000}, [], 1.0)  # it took 0.3 s
    cp.note_work(100.5)
    assert not cp.due(100.5, [])  # ten times its cost: not before 103.3
    assert not cp.due(103.2, [])
    assert cp.due(103.3, [])
    readings = iter([200.0, 260.0])  # one that took a minute: the next is 5 s (MAX_SPACING) on
    assert cp.commit(lambda: {"big": "y"}, [], 2.0)
    cp.note_work(260.0)
    assert not cp.due(264.9, []) and cp.due(265.0, [])


def managed_dispatcher(
    store: StateStore, rec: RecordingNotifier, clock: FixedClock | None = None
) -> NotificationDispatcher:
    r = route("{receiver: rec, group_by: [alertname], group_wait: 0s, group_interval: 1s}")
    return make_dispatcher(store, clock or FixedClock(), r, {"rec": rec}, own_commits=False)


def test_in_the_daemon_a_notification_is_sent_only_once_its_commit_is_durable(
    store: StateStore, metrics: Metrics
) -> None:
    rec = RecordingNotifier()
    d = managed_dispatcher(store, rec)
    cp = Checkpointer(store, StagedPositions(store), metrics)
    try:
        d.handle([tr(alert(instance="a"))], 1_700_000_000.0)
        assert d.dirty()
        assert outbox_rows(store) == 0 and rec.sent == []
        assert cp.commit(lambda: {}, [d], 1_700_000_000.0)
        (sent,) = rec.wait(1)
        assert sent.alerts[0].labels["instance"] == "a"
    finally:
        d.stop()


def test_a_store_that_refuses_writes_still_notifies_from_memory_and_writes_it_later(
    store: StateStore, metrics: Metrics
) -> None:
    rec = RecordingNotifier()
    rec.fail_with = ConnectionError("receiver down")  # held until the store takes writes again
    clock = FixedClock()
    d = managed_dispatcher(store, rec, clock)
    cp = Checkpointer(store, StagedPositions(store), metrics)
    try:
        refuse_writes(store, True)
        d.handle([tr(alert(instance="a"))], 1_700_000_000.0)
        assert not cp.commit(lambda: {}, [d], 1_700_000_000.0)
        assert d.pending_notifications() == 1  # held in memory
        refuse_writes(store, False)
        assert cp.commit(lambda: {}, [d], 1_700_000_001.0)
        assert outbox_rows(store) == 1  # the held row is durable now
        rec.fail_with = None
        clock.advance(60)  # past the retry's backoff
        rec.wait(1)
    finally:
        d.stop()

    rec2 = RecordingNotifier()
    d2 = managed_dispatcher(store, rec2)  # and it was sent from the memory row, not twice
    try:
        refuse_writes(store, True)
        d2.handle([tr(alert(instance="b"))], 1_700_000_002.0)
        assert not cp.commit(lambda: {}, [d2], 1_700_000_002.0)
        (sent,) = rec2.wait(1)  # the store refuses every write, the notification goes out
        # the group restored from the store still holds "a"; "b" is the new one
        assert sorted(a.labels["instance"] for a in sent.alerts) == ["a", "b"]
    finally:
        d2.stop(wait=True)
        refuse_writes(store, False)


def test_while_the_store_refuses_writes_a_notification_goes_out_before_the_next_try(
    store: StateStore, metrics: Metrics
) -> None:
    """Tries are spaced up to 30 s while the store refuses writes: a notification produced
    between two tries waited for the next one (21 s seen on a full disk), not sent at once."""
    rec = RecordingNotifier()
    d = managed_dispatcher(store, rec)
    cp = Checkpointer(store, StagedPositions(store), metrics)
    try:
        refuse_writes(store, True)
        d.handle([tr(alert(alertname="First"))], 1_700_000_000.0)
        assert not cp.commit(lambda: {}, [d], 1_700_000_000.0)
        rec.wait(1)
        # no commit is tried here: the next try is a second away, or up to 30 s
        d.handle([tr(alert(alertname="Second"))], 1_700_000_000.5)
        (_, second) = rec.wait(2)
        assert second.alerts[0].labels["alertname"] == "Second"
        refuse_writes(store, False)
        assert cp.commit(lambda: {}, [d], 1_700_000_001.0)
        assert not d.dirty()
    finally:
        d.stop()
        refuse_writes(store, False)


def test_action_history_refused_by_the_store_still_counts_for_the_limits(
    store: StateStore,
) -> None:
    errors: list[str] = []
    history = ActionHistory(store, on_error=errors.append)
    refuse_writes(store, True)
    rid = history.add(100.0, "restart", "web.service", "fp", "Down", RUNNING, False)
    assert rid < 0 and errors == ["add"]
    assert history.runs("restart", "web.service", 0.0, False) == [100.0]
    assert history.last_run("restart", "web.service", False) == 100.0
    assert history.count_all_since(50.0) == 1
    history.finish(rid, OK, "done")
    assert history.records()[0].outcome == OK
    assert history.dirty()
    refuse_writes(store, False)
    with store.transaction() as db:
        history.write(db, 101.0, lambda: None)
    history.written(True)
    assert not history.dirty()
    (stored,) = store.query("SELECT outcome, detail FROM action_history")
    assert stored == (OK, "done")
    assert history.runs("restart", "web.service", 0.0, False) == [100.0]  # once, not twice


def test_outbox_rows_held_in_memory_are_bounded(
    store: StateStore, metrics: Metrics, monkeypatch: Any
) -> None:
    import alerter.dispatch.heldrows as heldrows

    monkeypatch.setattr(heldrows, "MEMORY_LIMIT", 3)
    rec = RecordingNotifier()
    rec.fail_with = ConnectionError("down")
    d = managed_dispatcher(store, rec)
    cp = Checkpointer(store, StagedPositions(store), metrics)
    try:
        refuse_writes(store, True)
        for i in range(5):
            d.handle([tr(alert(alertname=f"A{i}"))], 1_700_000_000.0 + i)
            cp.commit(lambda: {}, [d], 1_700_000_000.0 + i)
        assert d.pending_notifications() == 3
    finally:
        d.stop()
        refuse_writes(store, False)


class RecordingPart:
    """A durable part that notes its write in `order`."""

    def __init__(self, name: str, order: list[str]) -> None:
        self.name, self.order = name, order

    def dirty(self) -> bool:
        return True

    def write(self, db: sqlite3.Connection, now: float, alive: Callable[[], None]) -> None:
        self.order.append(self.name)

    def written(self, ok: bool) -> None:
        pass


def test_a_commit_pings_the_watchdog_between_its_parts(
    store: StateStore, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a storm of distinct keys one checkpoint wrote 100k alerts, 75k groups and 225k
    notifications (11 s, WatchdogSec=30s): the commit calls `alive` between its parts, and
    the dispatcher's part between each ALIVE_EVERY rows."""
    order: list[str] = []
    cp = Checkpointer(store, StagedPositions(store), metrics)
    parts = [RecordingPart("a", order), RecordingPart("b", order)]
    assert cp.commit(lambda: {}, parts, 1.0, lambda: order.append("ping"))
    assert order == ["ping", "a", "ping", "b"]

    monkeypatch.setattr("alerter.dispatch.dispatcher.ALIVE_EVERY", 2)
    rec = RecordingNotifier()
    r = route("{receiver: rec, group_by: [host], group_wait: 0s, group_interval: 1m}")
    d = make_dispatcher(store, FixedClock(), r, {"rec": rec}, own_commits=False)
    pings = 0

    def alive() -> None:
        nonlocal pings
        pings += 1

    try:
        d.handle([tr(alert(host=f"h{i}")) for i in range(5)], 1_700_000_000.0)
        with store.transaction() as db:
            d.write(db, 1_700_000_000.0, alive)
        d.written(True)
        assert pings == 6  # 5 groups, then 5 notifications, in twos: a ping after each two
        assert len(rec.wait(5)) == 5  # each notification written, then sent once
        wait_for(lambda: outbox_rows(store) == 0)  # (the senders delete sent rows in batches)
        assert len(rec.sent) == 5
        groups = store.query("SELECT COUNT(*) FROM kv WHERE namespace = 'dispatch.groups'")
        assert groups[0][0] == 5
    finally:
        d.stop()
