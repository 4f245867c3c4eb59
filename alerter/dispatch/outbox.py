"""The durable outbox: notifications are committed to the state store before they are sent and
deleted after a 2xx, so they survive a restart and a receiver that is down.

One worker thread per lane sends its rows oldest first; the head row blocks the ones behind
it while it is retried, so order per receiver is kept. A lane is a notifier, or one URL of an
alertmanager notifier: each Alertmanager of a cluster is fed on its own, so one that is down
does not hold back the others. The outbox's `notifier` column holds the lane id. Retries back
off exponentially with jitter (Alertmanager's 500 ms, x1.5, 60 s cap), honour Retry-After up to
RETRY_AFTER_CAP, and end when the row is older than the notifier's `max_age`, which drops it
with an error log and a metric. A line per notification keeps within a budget
(alerter/dispatch/sendlog.py). A send is bounded by the notifier's `timeout` (whole call).

A lane that keeps only the latest state (`Lane.supersede`: an Alertmanager) skips a stored row
that later stored rows of its group cover (alerter/dispatch/supersede.py): it is deleted
unsent, logged (`notification_superseded`) and counted as outcome "superseded".

A worker reads its lane's stored rows READ_AHEAD at a time (fewer when they are big; ids only
grow, so the next read starts after the last row read) and deletes the rows it is done with in
batches (alerter/dispatch/outboxdeletes.py): a crash may send again the rows done in about the
last 0.2 s (at least once; nothing is lost). A row and how it is stored:
alerter/dispatch/outboxrows.py.

When the state store cannot be written (disk full, read-only, I/O error), notifications are held
in memory instead (`hold`, at most MEMORY_LIMIT rows, the oldest dropped and counted past that)
and sent from there, after the rows already in the store; the next checkpoint that succeeds
writes what is still unsent back to the store (`spill`).

Rows of a lane the config no longer has are dropped at start, and said so
(alerter/dispatch/outboxorphans.py).
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import structlog

from alerter.dispatch.heldrows import MEMORY_LIMIT, HeldRows
from alerter.dispatch.lanes import DEFAULT_BACKOFF, Backoff, Lane
from alerter.dispatch.outboxdeletes import DoneRows
from alerter.dispatch.outboxorphans import drop_orphans, dropped_lane
from alerter.dispatch.outboxrows import Row
from alerter.dispatch.sendlog import SendLog
from alerter.dispatch.supersede import LatestRows
from alerter.errors import NotifyError
from alerter.notifiers.model import Notification
from alerter.protocols import Clock
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

IDLE_WAIT = 1.0  # seconds a worker sleeps when it has nothing to do (it is woken on enqueue)
# Seconds a receiver's Retry-After may hold a notification back at most: a larger one is cut
# to this, so the notification is still tried again (and dropped only past max_age).
RETRY_AFTER_CAP = 300.0
# The senders count the outbox for alerter_notification_queue_length at most this often, and
# once more when their lane is idle: a COUNT after every send made draining a backlog quadratic
# (450k rows after a storm: minutes), and the senders' counts held the store's lock so long that
# the main loop (which renders each notification's action notes from the store) stalled, SIGTERM
# and the watchdog waiting with it.
COUNT_SPACING = 1.0
# How long stop() waits for sends in flight, all lanes together: well inside systemd's
# TimeoutStopSec (15 s in the shipped unit). A send still running then is left to its thread; its
# row stays in the outbox and is sent again after the next start (at least once).
STOP_BUDGET = 5.0
# A worker reads at most this many stored rows at once, and no more than this many characters
# of their payloads (and the row that passes it): a group's notification may hold every alert of
# a storm, megabytes, and a backlog of them must not be read into memory together.
READ_AHEAD = 100
READ_AHEAD_CHARS = 256 << 10


class Outbox:
    def __init__(
        self,
        store: StateStore,
        lanes: Mapping[str, Lane],
        metrics: Metrics,
        clock: Clock,
        backoff: Backoff = DEFAULT_BACKOFF,
        undelivered: Callable[[Notification], None] = lambda n: None,
    ) -> None:
        self._store = store
        self._lanes = dict(lanes)
        # told (from a worker) of each notification given up on: refused, or past max_age
        self._undelivered = undelivered
        self._metrics = metrics
        self._clock = clock
        self._backoff = backoff
        self._rnd = random.Random()
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self._lanes}
        self._threads: list[tuple[Lane, threading.Thread]] = []
        self._memory = HeldRows(lanes, self._drop_held)  # while the store refuses writes
        # per lane (touched by its worker only): the stored rows read and not done yet, oldest
        # first, and the highest id read (each stored row is read once: ids only grow)
        self._ahead: dict[str, collections.deque[Row]] = {n: collections.deque() for n in lanes}
        self._read_upto: dict[str, int] = dict.fromkeys(lanes, 0)
        # stored rows done (sent, refused, too old, superseded) and not deleted yet
        self._deletes = DoneRows(store, metrics)
        self._next_count = 0.0  # (time.monotonic) the senders' next count of the queue
        self._count_stale = False  # a count was skipped: the gauge may be behind
        # per superseding lane (touched by its worker only): its stored rows as read so far
        self._latest: dict[str, LatestRows] = {}
        self._lines = SendLog()  # the line per notification, within a budget

    def start(self) -> None:
        drop_orphans(self._store, self._lanes, self._metrics)
        self.update_queue_length()
        for lid, lane in self._lanes.items():
            t = threading.Thread(target=self._run, args=(lid,), name=f"notify-{lid}", daemon=True)
            t.start()
            self._threads.append((lane, t))

    def wake(self, lane: str) -> None:
        ev = self._wake.get(lane)
        if ev is not None:
            ev.set()

    def stop(self, wait: bool = True) -> None:
        """Stop the workers; a send in flight finishes (bounded by its timeout) and is recorded.
        With wait=False the workers end on their own after their send (nothing waits)."""
        self._stop.set()
        for ev in self._wake.values():
            ev.set()
        self._deletes.flush()  # before a reload's next outbox reads them (a send in flight: see _run)
        if wait:
            until = time.monotonic() + STOP_BUDGET
            for lane, t in self._threads:
                t.join(max(0.0, min(lane.timeout + 2.0, until - time.monotonic())))
                if t.is_alive():
                    log.warning(
                        "notification_send_left_at_stop",
                        notifier=lane.name,
                        hint="still in flight: it is sent again after the next start",
                    )
            self._deletes.flush()
        self._threads.clear()
        self._lines.summarize(force=True)

    def pending(self) -> int:
        try:
            stored = int(self._store.query("SELECT COUNT(*) FROM outbox")[0][0])
        except sqlite3.Error:
            stored = 0
        return stored - len(self._deletes) + len(self._memory)

    def update_queue_length(self) -> None:
        self._metrics.notification_queue_length.set(self.pending())

    def _count_soon(self) -> None:
        """A row is done: count the queue if the last count is COUNT_SPACING old, else when a
        lane is next idle."""
        mono = time.monotonic()
        if mono < self._next_count:
            self._count_stale = True
            return
        self._next_count = mono + COUNT_SPACING
        self._count_stale = False
        self.update_queue_length()

    # --- in memory while the store refuses writes ----------------------------------------

    def hold(self, lane: str, notification: Notification, now: float) -> None:
        """Keep a notification the store could not take; sent from memory, written later."""
        if self._memory.add(Row(lane, now, now, 0, notification)):
            self.wake(lane)

    def _drop_held(self, row: Row) -> None:
        name = row.lane.partition("@")[0]
        self._outcome(
            log,
            "error",
            "notification_dropped",
            name,
            "dropped",
            reason="memory_limit",
            lane=row.lane,
            group_key=row.notification.group_key,
            limit=MEMORY_LIMIT,
        )

    def held(self) -> int:
        """Notifications held in memory (the store refused them)."""
        return len(self._memory)

    def spill(self) -> list[Row]:
        """Take every row held in memory, to be written by the caller's transaction."""
        return self._memory.take_all()

    def unspill(self, rows: list[Row]) -> None:
        """The transaction that took `rows` failed: hold them again, ahead of newer ones."""
        self._memory.put_back(rows)

    def take_over(self, old: Outbox) -> None:
        """A reload: what the old config's outbox held in memory (the store refused it) is held
        here, ahead of anything newer; rows of a lane this config no longer has are dropped,
        and said so. (A stored row the old one sent but could not delete may go out again: at
        least once.)"""
        rows = old.spill()
        self.unspill([r for r in rows if self._memory.has_lane(r.lane)])
        gone = collections.Counter(r.lane for r in rows if not self._memory.has_lane(r.lane))
        for lid, count in gone.items():
            dropped_lane(self._metrics, lid, count)
        for lid in {r.lane for r in rows} - set(gone):
            self.wake(lid)

    def _head(self, lid: str) -> Row | None:
        """The oldest row of a lane: the store's first, then memory's."""
        ahead = self._ahead[lid]
        if not ahead:
            self._read_ahead(lid, ahead)
        if ahead:
            return ahead[0]
        return self._memory.head(lid)

    def _read_ahead(self, lid: str, ahead: collections.deque[Row]) -> None:
        """Read the lane's next stored rows (READ_AHEAD, READ_AHEAD_CHARS). A retry's wait is
        kept by its Row from then on: a failed UPDATE costs only the wait after a restart."""
        try:
            rows = self._store.query_bounded(
                "SELECT id, created, next_attempt, attempts, payload FROM outbox "
                "WHERE notifier = ? AND id > ? ORDER BY id LIMIT ?",
                (lid, self._read_upto[lid], READ_AHEAD),
                READ_AHEAD_CHARS,
                lambda row: len(row[4]),
            )
        except sqlite3.Error:
            return  # unreadable store: what memory holds still goes out
        for row_id, created, next_attempt, attempts, payload in rows:
            self._read_upto[lid] = row_id
            try:
                notification = Notification.from_dict(json.loads(payload))
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                self._unreadable(lid, row_id, e)
                continue
            ahead.append(Row(lid, created, next_attempt, attempts, notification, row_id))

    def _unreadable(self, lid: str, row_id: int, error: Exception) -> None:
        """A stored row that is not a notification (a damaged store, a row written by hand)
        cannot be sent; kept, it would hold back every row behind it for good. Dropped, said
        and counted."""
        name = self._lanes[lid].name
        self._deletes.add(row_id)
        self._outcome(
            log.bind(notifier=name),
            "error",
            "notification_dropped",
            name,
            "dropped",
            reason="unreadable",
            row=row_id,
            error=f"{type(error).__name__}: {error}"[:200],
            hint="the outbox row is not a notification alerter can read: it is deleted",
        )

    # --- worker --------------------------------------------------------------------------

    def _run(self, lid: str) -> None:
        lane = self._lanes[lid]
        wake = self._wake[lid]
        bound = (
            log.bind(notifier=lane.name, lane=lid) if lid != lane.name else log.bind(notifier=lid)
        )
        while not self._stop.is_set():
            try:
                wait = self._step(lid, lane, bound)
            except Exception:  # a bug must not end the worker: log, count, go on
                bound.exception("notification_worker_failed")
                self._metrics.notifications.labels(lane.name, "error").inc()
                wait = IDLE_WAIT
            if wait > 0:  # nothing to send at once: no reason to keep the batch
                self._deletes.flush(force=not self._deletes.refused)
                self._lines.summarize()  # lines held back are told when the lane rests too
                wake.wait(wait)
                wake.clear()
        self._deletes.flush()  # what a send that ran past stop() did (stop flushed the rest)

    def _step(self, lid: str, lane: Lane, log: structlog.typing.FilteringBoundLogger) -> float:
        """Try the head row of this lane; return how long to wait before the next step."""
        row = self._head(lid)
        if row is None:
            if lid in self._latest:
                self._latest[lid].forget()
            if self._count_stale:
                self._count_stale = False
                self.update_queue_length()
            return IDLE_WAIT
        if lane.supersede and self._superseded(lid, row):
            self._done(row)
            self._outcome(
                log,
                "info",
                "notification_superseded",
                lane.name,
                "superseded",
                group_key=row.notification.group_key,
                status=row.notification.status,
                alerts=len(row.notification.alerts),
                attempts=row.attempts,
            )
            return 0
        now = self._clock.now()
        if now - row.created > lane.max_age:
            self._done(row)
            self._undelivered(row.notification)
            self._outcome(
                log,
                "error",
                "notification_dropped",
                lane.name,
                "dropped",
                reason="max_age",
                age=round(now - row.created, 1),
                attempts=row.attempts,
                max_age=lane.max_age,
                group_key=row.notification.group_key,
            )
            return 0
        if row.next_attempt > now:
            return min(float(row.next_attempt) - now, IDLE_WAIT)
        notification = row.notification
        try:
            lane.notifier.send(notification)
        except NotifyError as e:
            if not e.retry:
                self._done(row)
                self._undelivered(notification)
                self._outcome(
                    log,
                    "error",
                    "notification_failed",
                    lane.name,
                    "failed",
                    error=str(e),
                    attempts=row.attempts + 1,
                    retry=False,
                    group_key=notification.group_key,
                )
                return 0
            delay = self._backoff.delay(row.attempts + 1, self._rnd)
            if e.retry_after is not None:
                delay = max(delay, min(e.retry_after, RETRY_AFTER_CAP))
            self._retry_later(row, now + delay)
            log.warning(
                "notification_retry",
                error=str(e),
                attempts=row.attempts,
                retry_in=round(delay, 3),
                group_key=notification.group_key,
            )
            self._metrics.notifications.labels(lane.name, "retry").inc()
            return 0
        except Exception as e:  # an unexpected error may pass: retry within max_age
            delay = self._backoff.delay(row.attempts + 1, self._rnd)
            self._retry_later(row, now + delay)
            log.exception("notification_error", error=str(e), attempts=row.attempts)
            self._metrics.notifications.labels(lane.name, "error").inc()
            return 0
        self._done(row)
        self._outcome(
            log,
            "info",
            "notification_sent",
            lane.name,
            "success",
            group_key=notification.group_key,
            status=notification.status,
            alerts=len(notification.alerts),
            attempts=row.attempts + 1,
        )
        return 0

    def _outcome(
        self,
        bound: structlog.typing.FilteringBoundLogger,
        level: Literal["info", "error"],
        event: str,
        notifier: str,
        outcome: str,
        **fields: Any,
    ) -> None:
        """A notification's outcome: its line (within the log budget) and its count."""
        self._lines.say(bound, level, event, notifier, outcome, **fields)
        self._metrics.notifications.labels(notifier, outcome).inc()

    def _superseded(self, lid: str, row: Row) -> bool:
        """Later stored rows of the row's group carry a newer state of each of its alerts. Rows
        held in memory are left out: never skipped, nor counted as newer."""
        if row.id is None or not row.notification.alerts:
            return False
        latest = self._latest.setdefault(lid, LatestRows())
        # an unreadable store: what was read so far still holds (ids only grow)
        with contextlib.suppress(sqlite3.Error):
            latest.catch_up(self._store, lid, READ_AHEAD_CHARS)
        return latest.covered(row.id, row.notification)

    def _done(self, row: Row) -> None:
        """The row is finished (sent, refused or too old): remove it wherever it is."""
        if row.id is None:
            self._memory.done(row)
        else:
            ahead = self._ahead[row.lane]
            if ahead and ahead[0] is row:
                ahead.popleft()
            self._deletes.add(row.id)
        self._count_soon()

    def _retry_later(self, row: Row, when: float) -> None:
        row.attempts += 1
        row.next_attempt = when
        if row.id is None:
            return  # held in memory: the row object itself is updated
        try:
            with self._store.transaction() as db:
                db.execute(
                    "UPDATE outbox SET attempts = ?, next_attempt = ? WHERE id = ?",
                    (row.attempts, when, row.id),
                )
        except sqlite3.Error as e:
            # the Row keeps its wait (it stays at the head): only a restart retries it sooner
            self._metrics.state_errors.labels("outbox_update").inc()
            log.warning("outbox_update_failed", error=str(e), row=row.id)
