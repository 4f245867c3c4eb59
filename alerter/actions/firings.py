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

An entry whose alert neither fires nor resolves (it was lost with a state the engine could not
restore) is dropped after STALE_AFTER, so it cannot make a new firing count as the old one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Set

import structlog

from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

FIRINGS_NS = "actions.firings"  # fingerprint -> {"since": start of the firing}
STALE_AFTER = 86400.0
_SWEEP_EVERY = 60.0


class Firings:
    def __init__(self, store: StateStore, on_error: Callable[[str], None]) -> None:
        self.store = store
        self._on_error = on_error
        self._stored: dict[str, float] = {
            fp: float(v["since"]) for fp, v in store.kv_items(FIRINGS_NS).items()
        }
        self._since: dict[str, float] = {}  # the firings seen by this runner (and resolved ones)
        self._missing: dict[str, float] = {}  # stored fingerprint -> first tick it was not firing
        self._next_sweep = float("-inf")
        self._ended: set[str] = set()  # stored firings that ended: the next checkpoint deletes
        self._writing: set[str] = set()

    # --- the checkpoint's part (alerter.protocols.Durable) ---------------------------------

    def dirty(self) -> bool:
        return bool(self._ended)

    def write(self, db: sqlite3.Connection, now: float) -> None:
        self._writing = set(self._ended)
        db.executemany(
            "DELETE FROM kv WHERE namespace = ? AND key = ?",
            [(FIRINGS_NS, fp) for fp in sorted(self._writing)],
        )

    def written(self, ok: bool) -> None:
        if ok:
            self._ended -= self._writing
        self._writing = set()

    # --- the runner's -------------------------------------------------------------------------

    def fired(self, fingerprint: str, start: float, keep: bool) -> float:
        """The alert went to firing (at `start`); returns the start of its firing.

        A stored firing that never resolved goes on (the transition is read again after a
        crash); otherwise a new one starts. `keep`: store it (the alert has an action that
        counts runs per firing).
        """
        since = self._stored.get(fingerprint)
        if since is None:
            since = start
            if keep:
                self._put(fingerprint, since)
        self._since[fingerprint] = since
        return since

    def firing(self, fingerprint: str, active_at: float, keep: bool) -> float:
        """The alert is firing (a tick): the start of its firing, stored if it was not (an
        alert restored firing by the engine that no stored firing knows starts at its
        `active_at`)."""
        since = self._since.get(fingerprint)
        if since is None:
            since = self.fired(fingerprint, active_at, keep)
        elif keep and fingerprint not in self._stored:
            self._put(fingerprint, since)
        return since

    def since(self, fingerprint: str) -> float | None:
        return self._since.get(fingerprint)

    def resolved(self, fingerprint: str, now: float) -> None:
        """The firing ended; its start stays in memory for the resolved notification's notes,
        and in the store until the checkpoint that covers the resolve."""
        if self._stored.pop(fingerprint, None) is not None:
            self._ended.add(fingerprint)
        self._missing.pop(fingerprint, None)
        if len(self._since) > 10_000:
            self._since = {k: v for k, v in self._since.items() if now - v < 86400.0}

    def sweep(self, live: Set[str], now: float) -> None:
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
                self._since.pop(fp, None)
                self._ended.add(fp)

    def _put(self, fingerprint: str, since: float) -> None:
        self._stored[fingerprint] = since
        try:
            self.store.kv_put(FIRINGS_NS, fingerprint, {"since": since})
        except sqlite3.Error as e:  # kept in memory: holds until a restart
            self._failed("put", e)
        else:  # a new firing after an end not yet committed: its start replaced the old one
            self._ended.discard(fingerprint)

    def _failed(self, operation: str, error: sqlite3.Error) -> None:
        self._on_error(operation)
        log.error(
            "state_write_failed", part="action_firings", operation=operation, error=str(error)
        )
