"""The stored outbox rows done (sent, refused, too old, superseded) and not deleted yet.

A sender does not delete each row it is done with in a transaction of its own: the rows are
deleted in batches, when DELETE_BATCH wait, once the first of them is DELETE_EVERY old, when the
lane has nothing to send at once, and at stop. (A DELETE transaction per row, taking the store's
lock that the main loop's checkpoint takes too, cost more than the send itself while the main
loop was busy.) So a crash may send again the rows done in about the last DELETE_EVERY: at
least once, nothing lost. The rows of a DELETE the store refused stay here, not sent again while
this process runs, and their DELETE is tried again RETRY_REFUSED later. Shared by the lanes'
worker threads.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import structlog

from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

# Rows done are deleted together: at most this many, the first of them at most this long after
# it was done (unless a send runs then), and as soon as the lane has nothing to send at once.
DELETE_BATCH = 256
DELETE_EVERY = 0.2
RETRY_REFUSED = 1.0  # seconds before a refused DELETE is tried again


class DoneRows:
    def __init__(self, store: StateStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one DELETE of the batch at a time
        self._flush_at = float("inf")  # (time.monotonic) when the waiting batch is due
        self.refused = False  # the last DELETE failed: tried again when due only

    def __len__(self) -> int:
        """How many rows are done and still in the store (the queue length leaves them out)."""
        return len(self._ids)

    def add(self, row_id: int) -> None:
        """A row is done; its batch is deleted now if it is full or due."""
        mono = time.monotonic()
        with self._lock:
            if not self._ids:
                self._flush_at = mono + DELETE_EVERY
            self._ids.add(row_id)
            full = len(self._ids) >= DELETE_BATCH and not self.refused
            due = mono >= self._flush_at
        if full or due:
            # a batch only due goes out with another lane's DELETE if one is under way
            self.flush(wait=full)

    def flush(self, force: bool = True, wait: bool = True) -> None:
        """Delete the rows done, unless `force` is False and the batch is not due yet, or
        `wait` is False and another lane's DELETE is under way (what it leaves is due then)."""
        if not self._flush_lock.acquire(blocking=wait):
            return
        try:
            self._delete(force)
        finally:
            self._flush_lock.release()

    def _delete(self, force: bool) -> None:
        with self._lock:
            if not self._ids or not (force or time.monotonic() >= self._flush_at):
                return
            ids = list(self._ids)
        try:
            with self._store.transaction() as db:
                db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        except sqlite3.Error as e:
            with self._lock:
                self._flush_at = time.monotonic() + RETRY_REFUSED
                self.refused = True
            self._metrics.state_errors.labels("outbox_delete").inc()
            log.warning("outbox_delete_failed", error=str(e), rows=len(ids))
            return
        with self._lock:
            self._ids.difference_update(ids)
            self.refused = False
            # rows done while this DELETE ran are due DELETE_EVERY from now
            self._flush_at = time.monotonic() + DELETE_EVERY if self._ids else float("inf")
