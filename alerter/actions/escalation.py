"""Escalate remediation that did not help, by raising synthetic alerts through the dispatcher.

Two cases: an action that reached its sliding-window limit ("remediation exhausted", lowered
once the window has room again) and an action whose alert still fires `verify` after it ran
("remediation ineffective", once per firing). Verify deadlines and raised alerts are persisted,
so a reload or restart neither loses an escalation nor leaves a synthetic alert firing forever.
The runner decides when to act; this module only watches the outcome and speaks up.
"""

from __future__ import annotations

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
        self._verify: dict[str, dict[str, Any]] = dict(store.kv_items(VERIFY_NS))

    # --- verify ------------------------------------------------------------------------------

    def watch(self, plan: ActionPlan, what: str, now: float) -> None:
        """The action ran: check `verify` later that its alert stopped firing."""
        action, alert = plan.action, plan.alert
        vkey = f"{alert.fingerprint}\x1f{action.name}"
        if action.verify is not None and vkey not in self._verify:
            self._verify[vkey] = {
                "deadline": now + action.verify,
                "target": plan.target,
                "what": what,
                "alert": alert.to_dict(),
            }
            self.store.kv_put(VERIFY_NS, vkey, self._verify[vkey])

    def check_verify(self, live: Container[str], now: float) -> None:
        for key, entry in list(self._verify.items()):
            fingerprint, name = key.split("\x1f", 1)
            action = self.actions.get(name)
            if fingerprint not in live or action is None or action.verify is None:
                self._verify.pop(key)
                self.store.kv_delete(VERIFY_NS, key)
                continue
            if entry["deadline"] is None or now < entry["deadline"]:
                continue
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
        for key in [k for k in self._verify if k.startswith(f"{fingerprint}\x1f")]:
            del self._verify[key]
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
