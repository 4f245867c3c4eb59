"""An outbox row: one notification on its way to one lane, and how it is written to the state
store (the `outbox` table; alerter/store/db.py has its schema). The dispatcher writes rows in
its own transactions (`enqueue`, and `insert` for rows held in memory while the store refused
writes); the outbox (alerter/dispatch/outbox.py) reads, sends and deletes them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from alerter.notifiers.model import Notification


@dataclass(slots=True)
class Row:
    """One notification on its way to one lane; `id` is None while it is held in memory."""

    lane: str
    created: float
    next_attempt: float
    attempts: int
    notification: Notification
    id: int | None = None


INSERT_ROW = (
    "INSERT INTO outbox (notifier, created, next_attempt, attempts, payload) VALUES (?, ?, ?, ?, ?)"
)


def _payload(n: Notification) -> str:
    return json.dumps(n.to_dict(), separators=(",", ":"))


def enqueue(
    db: sqlite3.Connection, lanes: Sequence[str], notification: Notification, now: float
) -> None:
    """Add a row for each of the receiver's lanes inside the caller's transaction (with the
    group state it belongs to); the notification is encoded once."""
    payload = _payload(notification)
    db.executemany(INSERT_ROW, [(lane, now, now, 0, payload) for lane in lanes])


def insert(db: sqlite3.Connection, row: Row) -> None:
    """Write a row held in memory (`spill`) inside the caller's transaction."""
    db.execute(
        INSERT_ROW,
        (row.lane, row.created, row.next_attempt, row.attempts, _payload(row.notification)),
    )
