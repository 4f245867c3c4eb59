"""The durable outbox: notifications are committed to the state store before they are sent and
deleted after a 2xx, so they survive a restart and a receiver that is down.

One worker thread per lane sends its rows oldest first; the head row blocks the ones behind
it while it is retried, so order per receiver is kept. A lane is a notifier, or one URL of an
alertmanager notifier: each Alertmanager of a cluster is fed on its own, so one that is down
does not hold back the others. The outbox's `notifier` column holds the lane id. Retries back off exponentially
with jitter (Alertmanager's 500 ms, x1.5, 60 s cap), honour Retry-After, and end when the row
is older than the notifier's `max_age`, which drops it with an error log and a metric.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from alerter.errors import NotifyError
from alerter.metrics import Metrics
from alerter.notifiers.model import Notification
from alerter.protocols import Clock, Notifier
from alerter.state import StateStore

log = structlog.get_logger(__name__)

IDLE_WAIT = 1.0  # seconds a worker sleeps when it has nothing to do (it is woken on enqueue)


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5
    factor: float = 1.5
    cap: float = 60.0
    jitter: float = 0.5  # the delay is multiplied by a random factor in [1 - jitter, 1 + jitter]

    def delay(self, attempts: int, rnd: random.Random) -> float:
        base = min(self.cap, self.initial * self.factor ** max(0, attempts - 1))
        return min(self.cap, base * rnd.uniform(1 - self.jitter, 1 + self.jitter))


DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True, slots=True)
class Lane:
    """What a worker needs to know about its notifier."""

    name: str  # the notifier's config name (metrics, logs)
    notifier: Notifier
    max_age: float
    timeout: float


def lane_id(notifier: str, url: str | None = None) -> str:
    return notifier if url is None else f"{notifier}@{url}"


def enqueue(db: sqlite3.Connection, lane: str, notification: Notification, now: float) -> None:
    """Add a row inside the caller's transaction (with the group state it belongs to)."""
    db.execute(
        "INSERT INTO outbox (notifier, created, next_attempt, attempts, payload) VALUES (?, ?, ?, 0, ?)",
        (
            lane,
            now,
            now,
            json.dumps(notification.to_dict(), separators=(",", ":")),
        ),
    )


class Outbox:
    def __init__(
        self,
        store: StateStore,
        lanes: Mapping[str, Lane],
        metrics: Metrics,
        clock: Clock,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self._store = store
        self._lanes = dict(lanes)
        self._metrics = metrics
        self._clock = clock
        self._backoff = backoff
        self._rnd = random.Random()
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self._lanes}
        self._threads: list[tuple[Lane, threading.Thread]] = []

    def start(self) -> None:
        self._drop_orphans()
        self.update_queue_length()
        for lid, lane in self._lanes.items():
            t = threading.Thread(target=self._run, args=(lid,), name=f"notify-{lid}", daemon=True)
            t.start()
            self._threads.append((lane, t))

    def wake(self, lane: str) -> None:
        ev = self._wake.get(lane)
        if ev is not None:
            ev.set()

    def stop(self) -> None:
        """Stop the workers; a send in flight finishes (bounded by its timeout) and is recorded."""
        self._stop.set()
        for ev in self._wake.values():
            ev.set()
        for lane, t in self._threads:
            t.join(lane.timeout + 2.0)
        self._threads.clear()

    def pending(self) -> int:
        return int(self._store.query("SELECT COUNT(*) FROM outbox")[0][0])

    def update_queue_length(self) -> None:
        self._metrics.notification_queue_length.set(self.pending())

    def _drop_orphans(self) -> None:
        """Rows for notifiers no longer in the config cannot be sent: say so and drop them."""
        rows = self._store.query("SELECT notifier, COUNT(*) FROM outbox GROUP BY notifier")
        for lid, count in rows:
            if lid not in self._lanes:
                name = lid.partition("@")[0]
                log.error(
                    "notifications_dropped",
                    notifier=name,
                    lane=lid,
                    count=count,
                    reason="notifier (or alertmanager URL) no longer configured",
                )
                self._metrics.notifications.labels(name, "dropped").inc(count)
                with self._store.transaction() as db:
                    db.execute("DELETE FROM outbox WHERE notifier = ?", (lid,))

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
            if wait > 0:
                wake.wait(wait)
                wake.clear()

    def _step(self, lid: str, lane: Lane, log: structlog.typing.FilteringBoundLogger) -> float:
        """Try the head row of this lane; return how long to wait before the next step."""
        rows = self._store.query(
            "SELECT id, created, next_attempt, attempts, payload FROM outbox "
            "WHERE notifier = ? ORDER BY id LIMIT 1",
            (lid,),
        )
        if not rows:
            return IDLE_WAIT
        row_id, created, next_attempt, attempts, payload = rows[0]
        now = self._clock.now()
        if now - created > lane.max_age:
            self._delete(row_id)
            log.error(
                "notification_dropped",
                reason="max_age",
                age=round(now - created, 1),
                attempts=attempts,
                max_age=lane.max_age,
            )
            self._metrics.notifications.labels(lane.name, "dropped").inc()
            return 0
        if next_attempt > now:
            return min(float(next_attempt) - now, IDLE_WAIT)
        notification = Notification.from_dict(json.loads(payload))
        try:
            lane.notifier.send(notification)
        except NotifyError as e:
            if not e.retry:
                self._delete(row_id)
                log.error(
                    "notification_failed",
                    error=str(e),
                    attempts=attempts + 1,
                    retry=False,
                    group_key=notification.group_key,
                )
                self._metrics.notifications.labels(lane.name, "failed").inc()
                return 0
            delay = self._backoff.delay(attempts + 1, self._rnd)
            if e.retry_after is not None:
                delay = max(delay, min(e.retry_after, lane.max_age))
            self._retry_later(row_id, attempts + 1, now + delay)
            log.warning(
                "notification_retry",
                error=str(e),
                attempts=attempts + 1,
                retry_in=round(delay, 3),
                group_key=notification.group_key,
            )
            self._metrics.notifications.labels(lane.name, "retry").inc()
            return 0
        except Exception as e:  # an unexpected error may pass: retry within max_age
            delay = self._backoff.delay(attempts + 1, self._rnd)
            self._retry_later(row_id, attempts + 1, now + delay)
            log.exception("notification_error", error=str(e), attempts=attempts + 1)
            self._metrics.notifications.labels(lane.name, "error").inc()
            return 0
        self._delete(row_id)
        log.info(
            "notification_sent",
            group_key=notification.group_key,
            status=notification.status,
            alerts=len(notification.alerts),
            attempts=attempts + 1,
        )
        self._metrics.notifications.labels(lane.name, "success").inc()
        return 0

    def _delete(self, row_id: int) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        self.update_queue_length()

    def _retry_later(self, row_id: int, attempts: int, when: float) -> None:
        with self._store.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = ?, next_attempt = ? WHERE id = ?",
                (attempts, when, row_id),
            )
