"""Escalate remediation that did not help, by raising synthetic alerts through the dispatcher.

Two cases: an action that reached its sliding-window limit ("remediation exhausted", lowered
once the window has room again) and an action whose alert still fires `verify` after it ran
("remediation ineffective", once per firing). Verify deadlines and raised alerts are persisted,
so a reload or restart neither loses an escalation nor leaves a synthetic alert firing forever.
The runner decides when to act; this module only watches the outcome and speaks up.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

import structlog

from alerter.actions.config import ActionConfig
from alerter.actions.executors import ActionPlan, phrases
from alerter.actions.history import ActionHistory
from alerter.actions.notes import (
    EXHAUSTED,
    INEFFECTIVE,
    clock_time,
    firing,
    note,
    resolved,
    span,
    stored_alert,
    synthetic_alert,
)
from alerter.core.values import format_duration
from alerter.rules.alert import Transition
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

SYNTHETIC_NS = "actions.synthetic"  # exhausted / ineffective alerts raised and not yet resolved
VERIFY_NS = "actions.verify"
_SWEEP_EVERY = 60.0  # verify entries whose alert left the firing ones without a resolve


class Escalator:
    def __init__(
        self,
        actions: Mapping[str, ActionConfig],
        *,
        store: StateStore,
        history_db: ActionHistory,
        emit: Callable[[Sequence[Transition]], None],
        dry_run: bool,
    ) -> None:
        self.actions = actions
        self.store = store
        self.history_db = history_db
        self.emit = emit
        self.dry_run = dry_run
        # "fingerprint\x1faction" -> {deadline (None once escalated), target, what, alert}
        self._verify: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, set[str]] = {}  # fingerprint -> its keys in _verify
        self._order: dict[str, int] = {}  # key -> when it entered _verify (the checks' order)
        self._seq = itertools.count()
        # (deadline, order, key) of the entries still to check; a record whose entry was
        # dropped or escalated since is skipped
        self._deadlines: list[tuple[float, int, str]] = []
        self._next_sweep = float("-inf")
        for key, entry in store.kv_items(VERIFY_NS).items():
            self._add(key, entry)

    # --- verify ------------------------------------------------------------------------------

    def watch(self, plan: ActionPlan, what: str, now: float) -> None:
        """The action ran: check `verify` later that its alert stopped firing."""
        action, alert = plan.action, plan.alert
        vkey = f"{alert.fingerprint}\x1f{action.name}"
        if action.verify is not None and vkey not in self._verify:
            self._add(
                vkey,
                {
                    "deadline": now + action.verify,
                    "target": plan.target,
                    "what": what,
                    "alert": alert.to_dict(),
                },
            )
            self.store.kv_put(VERIFY_NS, vkey, self._verify[vkey])

    def check_verify(self, live: Container[str], now: float) -> None:
        """Escalate the entries whose deadline passed, in the order they were added; the others
        cost nothing. Those whose alert is no longer firing (it left without a resolve: its
        rule went, its state was lost) or whose action lost `verify` are dropped when due, and
        by a sweep once a minute."""
        due = []
        while self._deadlines and self._deadlines[0][0] <= now:
            record = heapq.heappop(self._deadlines)
            if self._pending(record):
                due.append(record[1:])
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_EVERY
            for key in list(self._verify):
                if not self._verified(key, live):
                    self._drop(key)
        for _, key in sorted(due):
            if key not in self._verify:
                continue  # (dropped by the sweep)
            if not self._verified(key, live):
                self._drop(key)
                continue
            fingerprint, name = key.split("\x1f", 1)
            action = self.actions[name]
            assert action.verify is not None
            entry = self._verify[key]
            entry["deadline"] = None  # escalated: once per firing
            self.store.kv_put(VERIFY_NS, key, entry)
            plan = ActionPlan(action, entry["target"], stored_alert(entry["alert"]))
            summary = (
                f"{plan.alert.alertname} still firing {format_duration(action.verify)} "
                f"after {entry['what']}"
            )
            log.warning(
                "action_ineffective",
                action=action.name,
                target=plan.target,
                fingerprint=fingerprint,
            )
            self._raise(INEFFECTIVE, plan, summary, now)

    def forget_verify(self, fingerprint: str) -> None:
        for key in sorted(self._keys.get(fingerprint, ()), key=self._order.__getitem__):
            self._drop(key)

    def _verified(self, key: str, live: Container[str]) -> bool:
        """Whether the entry still has its check to make or its escalation to keep."""
        fingerprint, name = key.split("\x1f", 1)
        action = self.actions.get(name)
        return fingerprint in live and action is not None and action.verify is not None

    def _add(self, key: str, entry: dict[str, Any]) -> None:
        self._verify[key] = entry
        self._keys.setdefault(key.split("\x1f", 1)[0], set()).add(key)
        self._order[key] = order = next(self._seq)
        if entry["deadline"] is not None:
            heapq.heappush(self._deadlines, (entry["deadline"], order, key))
        if len(self._deadlines) > 2 * len(self._verify) + 1000:  # of entries dropped
            self._deadlines = [r for r in self._deadlines if self._pending(r)]
            heapq.heapify(self._deadlines)

    def _pending(self, record: tuple[float, int, str]) -> bool:
        """Whether a record in _deadlines is of an entry still to check (not one dropped, added
        again or escalated since)."""
        deadline, order, key = record
        entry = self._verify.get(key)
        return entry is not None and entry["deadline"] == deadline and self._order[key] == order

    def _drop(self, key: str) -> None:
        del self._verify[key], self._order[key]
        fingerprint = key.split("\x1f", 1)[0]
        keys = self._keys[fingerprint]
        keys.discard(key)
        if not keys:
            del self._keys[fingerprint]
        self.store.kv_delete(VERIFY_NS, key)

    # --- exhausted ---------------------------------------------------------------------------

    def exhausted(self, plan: ActionPlan, window: list[float], now: float) -> None:
        """The action reached its limit: raise "remediation exhausted" until the window frees."""
        action, alert = plan.action, plan.alert
        resume = window[0] + action.limit.within
        done, _ = phrases(action, plan.target)
        summary = (
            f"{alert.alertname}: remediation exhausted, {done} {len(window)} times "
            f"in the last {span(action.limit.within)}; not acting again before "
            f"{clock_time(resume)}"
        )
        self._raise(EXHAUSTED, plan, summary, now)

    def resume_exhausted(self, now: float) -> None:
        for key, entry in self.store.kv_items(SYNTHETIC_NS).items():
            if entry.get("kind") != EXHAUSTED:
                continue
            action = self.actions.get(entry.get("action", ""))
            if action is not None:
                dry = self.dry_run or action.dry_run
                window = self.history_db.runs(
                    action.name, entry["target"], now - action.limit.within, dry
                )
                if len(window) >= action.limit.count:
                    continue
            self._lower(key, entry, now)

    # --- synthetic alerts --------------------------------------------------------------------

    def raised(self) -> set[str]:
        """Fingerprints of the synthetic alerts firing now."""
        return set(self.store.kv_items(SYNTHETIC_NS))

    def forget(self, fingerprint: str, now: float) -> None:
        """The alert resolved: drop its verify deadlines and lower its "ineffective" alerts.

        An "exhausted" alert stays: it says the action will not run again before its window
        has room, which a resolve does not change (the alert may fire again at once), so
        `resume_exhausted` lowers it when the window frees.
        """
        self.forget_verify(fingerprint)
        for key, entry in self.store.kv_items(SYNTHETIC_NS).items():
            if entry.get("source") == fingerprint and entry.get("kind") != EXHAUSTED:
                self._lower(key, entry, now)

    def _raise(self, kind: str, plan: ActionPlan, summary: str, now: float) -> None:
        records = self.history_db.target_records(
            plan.action.name, plan.target, now - max(plan.action.limit.within, 3600.0)
        )
        lines = [note(r, plan.action, None) for r in records[-20:]]
        description = "Action history:\n" + "\n".join(f"- {line}" for line in lines)
        dry = self.dry_run or plan.action.dry_run
        alert = synthetic_alert(
            kind, plan.alert, plan.action, plan.target, summary, description, now, dry_run=dry
        )
        self.store.kv_put(
            SYNTHETIC_NS,
            alert.fingerprint,
            {
                "kind": kind,
                "action": plan.action.name,
                "target": plan.target,
                "source": plan.alert.fingerprint,
                "alert": alert.to_dict(),
            },
        )
        self.emit([firing(alert, now)])

    def _lower(self, key: str, entry: Mapping[str, Any], now: float) -> None:
        self.store.kv_delete(SYNTHETIC_NS, key)
        self.emit([resolved(stored_alert(entry.get("alert") or {}), now)])
