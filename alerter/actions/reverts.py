"""Undo what reverting actions applied (`revert:` set-property values, throttles, undo_argv) once
no firing alert holds it.

The runner holds an entry in `applied.AppliedStates` when it decides such a run, and its worker
marks it done when the apply succeeded. Here a resolving alert lets go of it, and the last one to
let go starts the undo, on the target's worker queue, so it runs after an apply still queued
there. An entry no firing alert has held for ORPHAN_GRACE (its rule was removed, a resolve was
lost) is undone too. Throttle gates live in memory: after a restart the held ones close again.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import replace
from typing import Any

import structlog

from alerter.actions import history as h
from alerter.actions.applied import AppliedStates
from alerter.actions.config import ActionConfig, ThrottleSpec
from alerter.actions.executors import ActionPlan, Executor, ThrottleExecutor, describe, render_plan
from alerter.actions.outcomes import OutcomeRecorder
from alerter.actions.workers import Job, KeyedWorkers
from alerter.errors import ActionError
from alerter.rules.alert import Alert

log = structlog.get_logger(__name__)

ORPHAN_GRACE = 60.0  # undo an applied state whose alerts have all stopped firing for this long


class Reverter:
    """Main loop: `release`, `undo_orphans`; the undo itself runs on the workers."""

    def __init__(
        self,
        actions: Mapping[str, ActionConfig],
        *,
        applied: AppliedStates,
        executors: Mapping[str, Executor],
        protected: frozenset[str],
        workers: KeyedWorkers,
        recorder: OutcomeRecorder,
    ) -> None:
        self.actions = actions
        self.applied = applied
        self.executors = executors
        self.protected = protected
        self._workers = workers
        self.recorder = recorder
        self._orphans: dict[str, float] = {}  # plan key -> first check no firing alert held it
        self._orphan_check = float("-inf")

    def release(self, action: ActionConfig, alert: Alert, now: float) -> None:
        """The alert resolved: it no longer holds what `action` applied for it."""
        try:
            plan = render_plan(action, alert, self.protected)
        except (ValueError, ActionError):
            return  # it never ran for this alert
        entry = self.applied.release(plan.key, alert.fingerprint)
        if entry is not None:  # the last alert holding it resolved
            self._start_undo(plan, entry, now)

    def undo_orphans(self, live: Container[str], now: float) -> None:
        """Undo what no firing alert holds any more (its rule was removed, a resolve was lost)."""
        if not self._orphans and now - self._orphan_check < 10.0:
            return
        self._orphan_check = now
        for key, entry in self.applied.items().items():
            if any(fp in live for fp in entry["fingerprints"]):
                self._orphans.pop(key, None)
                continue
            if now - self._orphans.setdefault(key, now) < ORPHAN_GRACE:
                continue
            self._orphans.pop(key, None)
            action = self.actions.get(entry["action"])
            if action is None:
                log.warning(
                    "action_orphan_dropped",
                    action=entry["action"],
                    target=entry["target"],
                    reason="the action is no longer configured; revert by hand",
                )
                self.applied.drop(key)
                continue
            log.warning("action_orphan_released", action=action.name, target=entry["target"])
            orphan = Alert(
                labels={"alertname": "orphaned"},
                annotations={},
                state="resolved",
                value=0.0,
                active_at=now,
            )
            released = self.applied.release(key, None)
            if released is not None:
                self._start_undo(ActionPlan(action, entry["target"], orphan), released, now)

    def reapply_throttles(self) -> None:
        """Gates live in memory: after a restart, re-close those a firing alert still holds."""
        throttle = self.executors.get("throttle")
        if not isinstance(throttle, ThrottleExecutor):
            return
        for entry in self.applied.items().values():
            action = self.actions.get(entry["action"])
            if (
                action
                and isinstance(action.spec, ThrottleSpec)
                and entry["done"]
                and not entry["dry_run"]
            ):
                try:
                    throttle.set(action.spec)
                except ActionError as e:
                    log.warning("throttle_reapply_failed", action=action.name, error=str(e))

    def _start_undo(self, plan: ActionPlan, entry: Mapping[str, Any], now: float) -> None:
        if entry["dry_run"]:
            self.applied.drop(plan.key)
            what = describe(plan.action, plan.target, True, undo=True)
            self.recorder.record(
                plan.action, plan.target, plan.alert, h.UNDO_PREFIX + h.DRY_RUN, what, now, dry=True
            )
            return
        self._workers.submit(plan.worker_key, Job(lambda: self._undo(plan, now)))

    def _undo(self, plan: ActionPlan, now: float) -> None:
        entry = self.applied.take(plan.key)
        if entry is None or not entry["done"]:
            return  # fired again meanwhile, or the apply failed: nothing to undo
        action = plan.action
        plan = replace(plan, undo_state=entry.get("undo_state") or {})
        what = describe(action, plan.target, False, undo=True)
        try:
            detail = self.executors[action.type].undo(plan)
            outcome = h.UNDO_PREFIX + h.OK
        except ActionError as e:
            detail, outcome = str(e), h.UNDO_PREFIX + h.FAILED
        except Exception as e:
            log.exception("action_undo_crashed", action=action.name, target=plan.target)
            detail, outcome = f"internal error: {e!r}", h.UNDO_PREFIX + h.FAILED
        self.recorder.record(
            action, plan.target, plan.alert, outcome, f"{what}: {detail}", now, dry=False
        )
        log.info("action_undone", action=action.name, target=plan.target, outcome=outcome)
