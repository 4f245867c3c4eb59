"""Which firing of an alert the runner is in, kept in the state store so it outlives a crash.

A firing starts when the runner first sees the alert firing and ends when it sees the alert
resolve. Its start is what "once per firing" (`repeat: false`) and the notification notes count
from. It is written at once, as the action history is, and not with the engine's checkpoint:
after a crash the daemon reads again the lines since that checkpoint, and an alert that fired
after it fires again, with a later `active_at`, although it never resolved. The stored start
says that this is the firing the history already holds runs for.

Its end is the other way round: the stored start is deleted by the checkpoint that commits the
resolve (Firings is one of the checkpoint's `Durable` parts). A crash before it brings the
engine back from before the resolve, and the lines read again fire (or keep firing) the same
firing: the stored start must still say so, or the replay would count as a new firing and run
a `repeat: false` action a second time.

With the start goes the `active_at` of the engine's alert in that firing. It tells a resolve
of the stored firing from a resolve of the one before it: when the engine comes back from a
checkpoint taken in an earlier firing (fire, checkpoint, resolve, fire again, crash), that
earlier firing may resolve before the lines read again fire the stored one again; its alert
became active before the stored one's, and its resolve leaves the stored firing as it is. When
the engine fires the stored firing again (a replay) or goes on with it (the restored alert
takes the lines read again), that alert's `active_at` becomes the firing's, in the store with
the checkpoint that holds the engine state it belongs to.

An entry whose alert neither fires nor resolves (it was lost with a state the engine could not
restore) is dropped after STALE_AFTER, so it cannot make a new firing count as the old one.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Callable, Container

import structlog

from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

FIRINGS_NS = "actions.firings"  # fingerprint -> {"since": start of the firing, "active_at": ...}
STALE_AFTER = 86400.0
_SWEEP_EVERY = 60.0


class Firings:
    keep_since = 10_000  # firings' starts kept in memory before those over a day old are dropped

    def __init__(self, store: StateStore, on_error: Callable[[str], None]) -> None:
        self.store = store
        self._on_error = on_error
        items = store.kv_items(FIRINGS_NS)
        self._stored: dict[str, float] = {fp: float(v["since"]) for fp, v in items.items()}
        # stored fingerprint -> active_at of the engine's alert in that firing (none in an entry
        # of an older version: its resolve ends it)
        self._active: dict[str, float] = {
            fp: float(v["active_at"]) for fp, v in items.items() if "active_at" in v
        }
        self._since: dict[str, float] = {}  # the firings seen by this runner (and resolved ones)
        # (start, fingerprint) of each start set in `_since`, oldest first: a record whose
        # fingerprint's start changed since is skipped
        self._starts: list[tuple[float, str]] = []
        # firings dropped from `_since` while their alerts may still fire (pruned): the runner
        # calls `firing` for each firing alert when this grows
        self.forgotten = 0
        self._missing: dict[str, float] = {}  # stored fingerprint -> first tick it was not firing
        self._next_sweep = float("-inf")
        self._ended: set[str] = set()  # stored firings that ended: the next checkpoint deletes
        self._moved: set[str] = set()  # stored firings whose active_at the next one writes
        self._writing: set[str] = set()
        self._writing_moved: set[str] = set()

    # --- the checkpoint's part (alerter.protocols.Durable) ---------------------------------

    def dirty(self) -> bool:
        return bool(self._ended or self._moved)

    def write(self, db: sqlite3.Connection, now: float, alive: Callable[[], None]) -> None:
        self._writing = set(self._ended)
        self._writing_moved = {fp for fp in self._moved if fp in self._stored}
        db.executemany(
            "DELETE FROM kv WHERE namespace = ? AND key = ?",
            [(FIRINGS_NS, fp) for fp in sorted(self._writing)],
        )
        db.executemany(
            "INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)",
            [(FIRINGS_NS, fp, self._entry(fp)) for fp in sorted(self._writing_moved)],
        )

    def written(self, ok: bool) -> None:
        if ok:
            self._ended -= self._writing
            self._moved -= self._writing_moved
        self._writing, self._writing_moved = set(), set()

    # --- the runner's -------------------------------------------------------------------------

    def fired(self, fingerprint: str, start: float, keep: bool, *, active_at: float) -> float:
        """The alert (active since `active_at`) went to firing at `start`; returns the start
        of its firing.

        A stored firing that never resolved goes on (the transition is read again after a
        crash), now as this alert's; otherwise a new one starts. `keep`: store it (the alert
        has an action that counts runs per firing).
        """
        since = self._stored.get(fingerprint)
        if since is None:
            since = start
            if keep:
                self._put(fingerprint, since, active_at)
        elif self._active.get(fingerprint) != active_at:
            self._active[fingerprint] = active_at
            self._moved.add(fingerprint)
        self._since[fingerprint] = since
        heapq.heappush(self._starts, (since, fingerprint))
        if len(self._starts) > 2 * len(self._since) + 1000:  # of starts replaced or dropped
            self._starts = [r for r in self._starts if self._since.get(r[1]) == r[0]]
            heapq.heapify(self._starts)
        return since

    def firing(self, fingerprint: str, active_at: float, keep: bool) -> float:
        """The alert is firing (a tick): the start of its firing, stored if it was not (an
        alert restored firing by the engine that no stored firing knows starts at its
        `active_at`)."""
        since = self._since.get(fingerprint)
        if since is None:
            since = self.fired(fingerprint, active_at, keep, active_at=active_at)
        elif keep and fingerprint not in self._stored:
            self._put(fingerprint, since, active_at)
        return since

    def since(self, fingerprint: str) -> float | None:
        return self._since.get(fingerprint)

    def resolved(self, fingerprint: str, now: float, *, active_at: float) -> None:
        """The firing of the alert active since `active_at` ended; its start stays in memory for
        the resolved notification's notes, and in the store until the checkpoint that covers
        the resolve. An alert active before the stored firing's ended an earlier firing: the
        stored one goes on (see the module's docstring)."""
        active = self._active.get(fingerprint)
        if active is not None and active_at < active and fingerprint in self._stored:
            log.info(
                "action_firing_kept",
                fingerprint=fingerprint,
                since=self._stored[fingerprint],
                reason="an earlier firing resolved",
            )
            return
        self._active.pop(fingerprint, None)
        self._moved.discard(fingerprint)
        if self._stored.pop(fingerprint, None) is not None:
            self._ended.add(fingerprint)
        self._missing.pop(fingerprint, None)
        if len(self._since) > self.keep_since:  # the starts over a day old, oldest first
            while self._starts and not now - self._starts[0][0] < 86400.0:
                since, fp = heapq.heappop(self._starts)
                if self._since.get(fp) == since:
                    del self._since[fp]
                    self.forgotten += 1

    def sweep(self, live: Container[str], now: float) -> None:
        """Drop the stored firings whose alert has not been firing for STALE_AFTER."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_EVERY
        for fp in list(self._stored):
            if fp in live:
                self._missing.pop(fp, None)
            elif now - self._missing.setdefault(fp, now) >= STALE_AFTER:
                log.info("action_firing_forgotten", fingerprint=fp, since=self._stored[fp])
                del self._stored[fp], self._missing[fp]
                self._active.pop(fp, None)
                self._moved.discard(fp)
                self._since.pop(fp, None)
                self._ended.add(fp)

    def _put(self, fingerprint: str, since: float, active_at: float) -> None:
        self._stored[fingerprint] = since
        self._active[fingerprint] = active_at
        self._moved.discard(fingerprint)
        try:
            self.store.kv_put(FIRINGS_NS, fingerprint, {"since": since, "active_at": active_at})
        except sqlite3.Error as e:  # kept in memory: holds until a restart
            self._failed("put", e)
        else:  # a new firing after an end not yet committed: its start replaced the old one
            self._ended.discard(fingerprint)

    def _entry(self, fingerprint: str) -> str:
        entry = {"since": self._stored[fingerprint], "active_at": self._active[fingerprint]}
        return json.dumps(entry, separators=(",", ":"))

    def _failed(self, operation: str, error: sqlite3.Error) -> None:
        self._on_error(operation)
        log.error(
            "state_write_failed", part="action_firings", operation=operation, error=str(error)
        )
