"""What reverting actions have applied, and which firing alerts hold it (persisted).

A `set-property`, a throttle or a command with `undo_argv` stays applied while any alert that
asked for it is firing; the last resolve reverts it. Entries live in the state store, so a
revert still happens after a daemon restart (with the values read back before the first apply).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from alerter.store.db import StateStore

NAMESPACE = "actions.applied"


class AppliedStates:
    """Entries: {action, target, fingerprints, dry_run, done, undo_state}, keyed by ActionPlan.key.

    Thread-safe: the main loop holds and releases, workers mark applies done and take undos.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    def hold(self, key: str, action: str, target: str, fingerprint: str, dry_run: bool) -> None:
        with self._lock:
            entry = self.store.kv_get(NAMESPACE, key) or {
                "action": action,
                "target": target,
                "fingerprints": [],
                "dry_run": dry_run,
                "done": False,
                "undo_state": {},
            }
            if fingerprint not in entry["fingerprints"]:
                entry["fingerprints"].append(fingerprint)
            self.store.kv_put(NAMESPACE, key, entry)

    def done(self, key: str, undo_state: Mapping[str, Any]) -> None:
        """The apply succeeded. Only the first one saw the original values: keep those."""
        with self._lock:
            entry = self.store.kv_get(NAMESPACE, key)
            if entry is not None and not entry["done"]:
                entry["done"] = True
                entry["undo_state"] = dict(undo_state)
                self.store.kv_put(NAMESPACE, key, entry)

    def release(self, key: str, fingerprint: str | None) -> dict[str, Any] | None:
        """Let go for one alert (None: for all). The entry when nobody holds it any more."""
        with self._lock:
            entry: dict[str, Any] | None = self.store.kv_get(NAMESPACE, key)
            if entry is None:
                return None
            if fingerprint is None:
                entry["fingerprints"] = []
            elif fingerprint in entry["fingerprints"]:
                entry["fingerprints"].remove(fingerprint)
            else:
                return None
            self.store.kv_put(NAMESPACE, key, entry)
            return None if entry["fingerprints"] else entry

    def take(self, key: str) -> dict[str, Any] | None:
        """Remove and return the entry for its undo, unless an alert took hold again meanwhile."""
        with self._lock:
            entry: dict[str, Any] | None = self.store.kv_get(NAMESPACE, key)
            if entry is None or entry["fingerprints"]:
                return None
            self.store.kv_delete(NAMESPACE, key)
            return entry

    def drop(self, key: str) -> None:
        with self._lock:
            self.store.kv_delete(NAMESPACE, key)

    def items(self) -> dict[str, dict[str, Any]]:
        return dict(self.store.kv_items(NAMESPACE))
