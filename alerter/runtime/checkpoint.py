"""One commit per batch: what processed batches changed becomes durable together, or not at all.

The main loop processes batches, then commits, in one SQLite transaction: the engine's state
(alert states and windows), the dispatcher's groups with the notifications they produced (outbox
rows), action-history rows the store refused earlier, the ends of the firings the actions count
runs in (alerter.actions.firings), and the collectors' positions of the batches processed.
Collectors save positions through `StagedPositions`, which holds them until that commit, so a
saved position is never ahead of the state it belongs to: after a kill -9 the engine, the
dispatcher and the collectors resume from the same commit, and the lines after it are read again
(at least once: a notification sent from that commit may repeat, none is lost).

Cost: a commit encodes the whole engine snapshot, piece by piece, and writes the pieces that
changed (alerter.store.snapshots), so its cost grows with the number of live keys. Commits are spaced so that they take at most COMMIT_BUDGET of
the main loop's time: a small state commits after every drained batch, a 200k-key state every
second or so. Positions simply wait for the next commit.

When the store refuses a write (disk full, read-only, I/O error), everything stays in memory:
staged positions, the engine's state (it is the engine), the dispatcher's groups, notifications
(sent from the outbox's memory meanwhile); the commit is retried with a growing wait and writes
everything once the store takes it again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from alerter.protocols import Durable
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.store.snapshots import SnapshotWriter

log = structlog.get_logger(__name__)

COMMIT_BUDGET = 0.1  # at most this share of the main loop's time goes to commits
MAX_SPACING = 5.0  # seconds: however costly, a commit at least this often while work is pending
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # seconds between tries while the store refuses writes


class StagedPositions:
    """The collectors' `PositionStore`: saves wait for the next checkpoint (any thread)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._saved: dict[str, dict[str, str]] = {}
        self._deleted: dict[str, set[str]] = {}

    def load_positions(self, collector: str) -> dict[str, str]:
        positions = self._store.load_positions(collector)
        with self._lock:
            for key in self._deleted.get(collector, ()):
                positions.pop(key, None)
            positions.update(self._saved.get(collector, {}))
        return positions

    def save_positions(self, collector: str, positions: dict[str, str]) -> None:
        with self._lock:
            self._saved.setdefault(collector, {}).update(positions)
            deleted = self._deleted.get(collector)
            if deleted:
                deleted.difference_update(positions)

    def delete_positions(self, collector: str, keys: Sequence[str]) -> None:
        with self._lock:
            saved = self._saved.get(collector, {})
            for key in keys:
                saved.pop(key, None)
            self._deleted.setdefault(collector, set()).update(keys)

    def pending(self) -> bool:
        with self._lock:
            return bool(self._saved or self._deleted)

    def take(self) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
        with self._lock:
            taken = self._saved, self._deleted
            self._saved, self._deleted = {}, {}
        return taken

    def give_back(self, saved: dict[str, dict[str, str]], deleted: dict[str, set[str]]) -> None:
        """A commit failed: stage what it took again, under anything staged since."""
        with self._lock:
            for collector, keys in deleted.items():
                newer = self._saved.get(collector, {})
                self._deleted.setdefault(collector, set()).update(k for k in keys if k not in newer)
            for collector, positions in saved.items():
                newer_deleted = self._deleted.get(collector, set())
                merged = {k: v for k, v in positions.items() if k not in newer_deleted}
                merged.update(self._saved.get(collector, {}))
                self._saved[collector] = merged


def write_positions(
    db: sqlite3.Connection, saved: Mapping[str, dict[str, str]], deleted: Mapping[str, set[str]]
) -> None:
    db.executemany(
        "DELETE FROM positions WHERE collector = ? AND key = ?",
        [(c, k) for c, keys in deleted.items() for k in keys],
    )
    db.executemany(
        "INSERT OR REPLACE INTO positions (collector, key, value) VALUES (?, ?, ?)",
        [(c, k, v) for c, positions in saved.items() for k, v in positions.items()],
    )


class Checkpointer:
    """Writes one checkpoint at a time, from the main loop; decides when the next is due."""

    def __init__(
        self,
        store: StateStore,
        positions: StagedPositions,
        metrics: Metrics,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic  # what a commit's cost is measured with
        self.store = store
        self.positions = positions
        self.metrics = metrics
        self.error: str | None = None  # the store's last refusal, until a commit succeeds
        self.failed_since: float | None = None
        self.engine = SnapshotWriter()
        self._next = 0.0  # monotonic time before which no commit starts
        self._retry = RETRY_FIRST
        self._pending_since: float | None = None

    def note_work(self, mono: float) -> None:
        """Something was processed that the next commit must cover."""
        if self._pending_since is None:
            self._pending_since = mono

    def pending(self) -> bool:
        """Work processed that no commit covers yet."""
        return self._pending_since is not None

    def due(self, mono: float, parts: Sequence[Durable]) -> bool:
        idle = self._pending_since is None and not self.positions.pending()
        if idle and not any(p.dirty() for p in parts):
            return False
        return mono >= self._next or (
            self.error is None
            and self._pending_since is not None
            and mono - self._pending_since >= MAX_SPACING
        )

    def commit(
        self,
        snapshot: Callable[[], Mapping[str, Any]],
        parts: Sequence[Durable],
        now: float,
        alive: Callable[[], None] = lambda: None,
    ) -> bool:
        """Write the engine state, the parts' changes and the staged positions together.
        `snapshot` is the engine's (lazy: alerter.rules.rows), encoded piece by piece within
        the transaction. `alive` (the main loop's watchdog ping) is called between the parts:
        after a storm, one checkpoint wrote 100k alerts and 225k notifications (11 s)."""
        started = self._monotonic()
        engine = self.engine.prepare(snapshot())
        saved, deleted = self.positions.take()
        try:
            with self.store.transaction() as db:
                self.engine.write(db, engine)
                for part in parts:
                    alive()
                    part.write(db, now, alive)
                write_positions(db, saved, deleted)
        except sqlite3.Error as e:
            self.positions.give_back(saved, deleted)
            self.engine.written(False)
            for part in parts:  # each, written to or not: the store refused this checkpoint
                part.written(False)
            self._failed(str(e), now)
            return False
        except Exception:  # (a snapshot that cannot be encoded): nothing taken, raised on
            self.positions.give_back(saved, deleted)
            self.engine.written(False)
            for part in parts:
                part.written(False)
            raise
        for part in parts:
            part.written(True)
        self.engine.written(True)
        ended = self._monotonic()
        took = ended - started
        self.metrics.state_commit_duration.observe(took)
        self._next = ended + min(took / COMMIT_BUDGET, MAX_SPACING)
        self._pending_since = None
        if self.error is not None:
            log.info(
                "state_store_writable_again", failed_for=round(now - (self.failed_since or now), 1)
            )
        self.error, self.failed_since, self._retry = None, None, RETRY_FIRST
        return True

    def _failed(self, error: str, now: float) -> None:
        self.metrics.state_errors.labels("checkpoint").inc()
        if self.error is None:
            self.failed_since = now
        log.error(
            "state_write_failed",
            error=error,
            retry_in=self._retry,
            hint="alerting goes on from memory until the state_dir takes writes again (free "
            "space, fix permissions); a restart meanwhile reads the lines since the last write again",
        )
        self.error = error
        self._next = self._monotonic() + self._retry
        self._retry = min(self._retry * 2, RETRY_MAX)
