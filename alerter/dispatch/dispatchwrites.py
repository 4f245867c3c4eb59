"""The dispatcher's part of a checkpoint's transaction (alerter.runtime.checkpoint): the
aggregation groups changed and removed since the last write (rows of the store's kv table,
namespace GROUPS_NAMESPACE), the rows the outbox held in memory while the store refused writes,
and the new notifications, written in chunks with the main loop's `alive` between them (a
storm's checkpoint wrote 75k groups and 225k notifications)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from alerter.dispatch.groups import AggregationGroup
from alerter.dispatch.outboxrows import Row, enqueue, insert
from alerter.notifiers.model import Notification

T = TypeVar("T")

GROUPS_NAMESPACE = "dispatch.groups"
COMPACT = (",", ":")  # JSON separators

# what one write takes: notifications, group ids changed, group ids removed, rows from memory
Writing = tuple[list[Notification], set[str], set[str], list[Row]]


def write_changes(
    db: sqlite3.Connection,
    groups: Mapping[str, AggregationGroup],
    writing: Writing,
    lanes: Mapping[str, Sequence[str]],
    now: float,
    alive: Callable[[], None],
    every: int,
) -> None:
    """Add `writing` to the caller's transaction: `groups` are the dispatcher's by id, `lanes`
    the lane ids of each notifier; `alive` is called between each `every` rows."""
    out, dirty, removed, spilled = writing
    db.executemany(
        "DELETE FROM kv WHERE namespace = ? AND key = ?",
        [(GROUPS_NAMESPACE, gid) for gid in removed],
    )
    changed = (
        (GROUPS_NAMESPACE, gid, json.dumps(groups[gid].to_dict(), separators=COMPACT))
        for gid in dirty
        if gid in groups
    )
    for chunk in _chunks(changed, alive, every):
        db.executemany("INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)", chunk)
    for rows in _chunks(spilled, alive, every):
        for row in rows:
            insert(db, row)
    for notifications in _chunks(out, alive, every):
        for n in notifications:
            enqueue(db, lanes[n.receiver], n, now)


def _chunks(items: Iterable[T], alive: Callable[[], None], every: int) -> Iterator[list[T]]:
    """`items` in lists of `every`, with `alive` called between them."""
    it = iter(items)
    while chunk := list(itertools.islice(it, every)):
        yield chunk
        alive()
