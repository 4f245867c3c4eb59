"""Which queued pushes a lane that keeps only the latest state may skip (`Lane.supersede`).

An Alertmanager holds one state per alert and reads a push as "this is how it is now", and the
push's `endsAt` is computed at send time: after an outage, a queued firing push sent before
the resolve queued behind it would tell it that alerts resolved since fire again. So a stored
row is superseded when later stored rows of the same group (receiver and group key) carry
every alert of it. Other receivers get every row, in order (they may keep the history).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from alerter.notifiers.model import Notification
from alerter.store.db import StateStore


class LatestRows:
    """One lane's stored rows as read so far: the highest row id read (`upto`), and per group
    per alert fingerprint the id of the latest row that has it. Each stored row is read once
    (ids only grow: AUTOINCREMENT), so draining a backlog stays linear."""

    def __init__(self) -> None:
        self.upto = 0
        self._latest: dict[tuple[str, str], dict[str, int]] = {}

    def catch_up(self, store: StateStore, lane: str, chars: int) -> None:
        """Read the lane's stored rows after `upto`, `chars` of payload at a time (a backlog's
        payloads are not read together). sqlite3.Error passes to the caller."""
        while True:
            rows = store.query_bounded(
                "SELECT id, payload FROM outbox WHERE notifier = ? AND id > ? ORDER BY id",
                (lane, self.upto),
                chars,
                lambda r: len(r[1]),
            )
            self.read(rows)
            if not rows or sum(len(r[1]) for r in rows) < chars:
                return

    def read(self, rows: Iterable[tuple[int, str]]) -> None:
        """Stored rows (id, payload) after `upto`, in id order."""
        for row_id, payload in rows:
            self.upto = row_id
            try:
                d = json.loads(payload)
                group = (d["receiver"], d["group_key"])
                fingerprints = [a["fingerprint"] for a in d["alerts"]]
            except (ValueError, TypeError, KeyError):
                continue  # not a notification: it supersedes nothing (its sender drops it)
            fps = self._latest.setdefault(group, {})
            for fp in fingerprints:
                fps[fp] = row_id

    def covered(self, row_id: int, n: Notification) -> bool:
        """Later rows of the group of row `row_id` (holding `n`) carry every alert of it."""
        fps = self._latest.get((n.receiver, n.group_key), {})
        return all(fps.get(a.fingerprint, 0) > row_id for a in n.alerts)

    def forget(self) -> None:
        """The lane is empty: nothing read so far can supersede a later row (their ids are
        higher), so only `upto` is kept (else this grew with every alert ever pushed)."""
        self._latest.clear()

    def empty(self) -> bool:
        return not self._latest
