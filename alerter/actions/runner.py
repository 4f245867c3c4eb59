"""Decide when actions run, under the safety rules, and hand the work to worker threads.

Decisions happen on the main loop (handle/tick) and are cheap: render the target, then check, in
order, protected units, cooldown, the sliding-window limit and the global per-minute cap, each
read from the persisted history. The systemctl/command/signal work runs on `KeyedWorkers`;
applied states (set properties, throttles, undo_argv) are undone by `reverts.Reverter`. Watching
whether an action helped, and raising synthetic alerts when it did not, is `escalation.Escalator`;
writing each decision and outcome (history row, metric, log) is `outcomes.OutcomeRecorder`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import replace
from typing import Any

import structlog

from alerter.actions import history as h
from alerter.actions.alertrecords import AlertRecords
from alerter.actions.applied import AppliedStates
from alerter.actions.bans import SKIPPED_BANNED, BanExecutor
from alerter.actions.config import ActionConfig
from alerter.actions.escalation import Escalator
from alerter.actions.executors import (
    ActionPlan,
    Executor,
    ProtectedUnitError,
    describe,
    render_plan,
)
from alerter.actions.firings import Firings
from alerter.actions.notes import clock_time, span
from alerter.actions.outcomes import OutcomeRecorder, told_once_per
from alerter.actions.reverts import Reverter
from alerter.actions.wakes import SETTLED, Entry, RepeatCalendar
from alerter.actions.workers import Job, KeyedWorkers
from alerter.core.values import format_duration
from alerter.errors import ActionError
from alerter.protocols import Clock, Durable
from alerter.rules.alert import Alert, Transition
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

RETENTION = 30 * 86400.0  # history kept at least this long (longer if a limit window needs it)


class ActionRunner:
    def __init__(
        self,
        actions: Sequence[ActionConfig],
        *,
        store: StateStore,
        metrics: Metrics,
        clock: Clock,
        emit: Callable[[Sequence[Transition]], None],
        executors: Mapping[str, Executor],
        protected: frozenset[str],
        dry_run: bool = False,
        actions_per_minute: int = 30,
        workers: KeyedWorkers | None = None,
        unfinished: h.UnfinishedRuns | None = None,
    ) -> None:
        """`workers` and `unfinished`: the daemon's, shared by every runner it builds (a reload
        builds a new one while the old one's runs go on: the new one's runs on a target queue
        behind them); None: its own, which `stop` stops."""
        self.actions = {a.name: a for a in actions}
        self.store = store
        self.history_db = h.ActionHistory(
            store,
            on_error=lambda operation: metrics.state_errors.labels("action_history").inc(),
            unfinished=unfinished,
        )
        self.metrics = metrics
        self.clock = clock
        self.emit = emit
        self.executors = executors
        self.protected = protected
        self.dry_run = dry_run
        self.actions_per_minute = actions_per_minute
        self._own_workers = workers is None
        self._workers = KeyedWorkers() if workers is None else workers
        self.applied = AppliedStates(store)
        self.recorder = OutcomeRecorder(self.history_db, metrics)
        self.reverter = Reverter(
            self.actions,
            applied=self.applied,
            executors=executors,
            protected=protected,
            workers=self._workers,
            recorder=self.recorder,
        )
        self.firings = Firings(
            store, on_error=lambda operation: metrics.state_errors.labels("action_firings").inc()
        )
        # fingerprint -> the `repeat: false` actions with nothing left to do in the alert's
        # firing: they ran in it, or its labels give them a target they refuse
        self._settled: dict[str, set[str]] = {}
        self.alert_records = AlertRecords(
            self.actions,
            history_db=self.history_db,
            recorder=self.recorder,
            firings=self.firings,
            clock=clock,
        )
        self.escalator = Escalator(
            self.actions, store=store, history_db=self.history_db, emit=emit, dry_run=dry_run
        )
        self._not_before: dict[str, float] = {}  # plan key -> no repeat decision before this
        self._calendar = RepeatCalendar()  # which firing alerts' repeats a tick decides
        self._prune_settled_at = self._prune_not_before_at = 10_000
        self._forgotten = self.firings.forgotten
        # (plan key, not before) from the workers, for the main loop to move into _not_before
        self._refused_at_run: deque[tuple[str, float]] = deque()
        self._next_prune = float("-inf")
        self.retention = max([RETENTION, *(a.limit.within for a in actions)])
        self.reverter.reapply_throttles()
        self.recorder.mark_interrupted()

    # --- the ActionRunner protocol ------------------------------------------------------

    def handle(self, transitions: Sequence[Transition], now: float) -> None:
        for t in transitions:
            alert = t.alert
            if not alert.actions:
                continue  # most alerts: nothing to decide, nothing to look up
            self._calendar.touch(alert.fingerprint)
            if t.state == "firing" and t.previous != "firing":
                actions = self._actions_of(alert, "firing")
                self._settle(alert.fingerprint, None)
                self.firings.fired(
                    alert.fingerprint, now, _once(actions), active_at=alert.active_at
                )
                self.escalator.forget_verify(alert.fingerprint)
                for action in actions:
                    self._decide(action, alert, now, repeat=False)
            elif t.state == "resolved" and t.previous == "firing":
                for action in self._actions_of(alert, "resolved"):
                    self._decide(action, alert, now, repeat=False)
                for action in self._actions_of(alert, "firing"):
                    if action.reverts:
                        self.reverter.release(action, alert, now)
                self._forget(alert, now)

    def tick(
        self, firing_alerts: Sequence[Alert], now: float, live: Container[str] | None = None
    ) -> None:
        """`live`: the fingerprints of every firing alert, when `firing_alerts` holds only
        those with actions (the daemon's: most firing alerts list none). Only the repeats due
        are decided (wakes.RepeatCalendar; the tuple of the last tick again costs only those)."""
        if live is None:
            live = {a.fingerprint for a in firing_alerts if a.state == "firing"}
        self.escalator.resume_exhausted(now)
        self._take_refused_at_run()
        if self._forgotten != self.firings.forgotten:  # firings to start again (Firings.firing)
            self._forgotten = self.firings.forgotten
            for alert in firing_alerts:
                if alert.state == "firing" and alert.actions:
                    actions = self._actions_of(alert, "firing")
                    self.firings.firing(alert.fingerprint, alert.active_at, _once(actions))
        for entry in self._calendar.due(firing_alerts, now):
            self._repeat(entry, now)
        self.escalator.check_verify(live, now)
        self.reverter.undo_orphans(live, now)
        self.firings.sweep(live, now)
        # what these two drop is never read again: pruned once they doubled since, not copied
        # every tick while a storm holds 10k+ targets
        if len(self._settled) > self._prune_settled_at:
            self._settled = {k: v for k, v in self._settled.items() if k in live}
            self._prune_settled_at = max(10_000, 2 * len(self._settled))
        self.recorder.trim(now)
        if len(self._not_before) > self._prune_not_before_at:
            self._not_before = {k: v for k, v in self._not_before.items() if v > now}
            self._prune_not_before_at = max(10_000, 2 * len(self._not_before))
        if now >= self._next_prune:
            self._next_prune = now + 3600.0
            if n := self.history_db.prune(now - self.retention):
                log.info("action_history_pruned", records=n)

    def history(self, fingerprint: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Newest first; one alert's holds its refusals by the global cap that the row of
        another alert counts."""
        return [r.to_json() for r in self.alert_records.records(fingerprint, None, limit)]

    def notes(self, fingerprint: str) -> list[str]:
        """Lines for the alert's notifications: what was done (or would be) in this firing."""
        return self.alert_records.notes(fingerprint)

    def raised(self) -> set[str]:
        return self.escalator.raised()

    def durable(self) -> Sequence[Durable]:
        return [self.history_db, self.firings]

    def idle(self) -> bool:
        """True when no action work is queued or running on the workers (for tests); shared
        workers count the work of every runner they serve."""
        return self._workers.idle()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self._workers.wait_idle(timeout)

    def stop(self) -> None:
        """Stop its own workers (their stop budget: KeyedWorkers.stop). Shared ones are the
        daemon's, which stops them at shutdown; at a reload this runner's queued and running
        work goes on there, ahead of the new runner's on the same targets."""
        if self._own_workers:
            self._workers.stop()
        self.recorder.tell_held(force=True)

    # --- deciding ---------------------------------------------------------------------------

    def _actions_of(self, alert: Alert, edge: str) -> list[ActionConfig]:
        out = []
        for name in alert.actions:
            action = self.actions.get(name)
            if action is not None and action.on == edge:
                out.append(action)
        return out

    def _repeat(self, entry: Entry, now: float) -> None:
        """Decide again the alert's actions that are due; each is due next when its plan's
        `not_before` ends, never in this firing once settled, else at the next tick."""
        alert, fp = entry.alert, entry.alert.fingerprint
        actions = self._actions_of(alert, "firing")
        self.firings.firing(fp, alert.active_at, _once(actions))
        wakes, keys = [], []
        for i, action in enumerate(actions):
            key, due = None, entry.due(i, now)
            wake = now if due else entry.wakes[i]
            # `repeat: false`: until it has run in this firing (a cooldown, the limit or the
            # global cap may have held it back when the alert started firing)
            if due and (action.repeat or action.name not in self._settled.get(fp, ())):
                key = self._decide(action, alert, now, repeat=True)
            if due and not action.repeat and action.name in self._settled.get(fp, ()):
                wake = SETTLED
            elif key is not None and self._not_before.get(key, 0.0) > now:
                wake = self._not_before[key]
            else:
                key = None
            wakes.append(wake)
            keys.append(key)
        self._calendar.decided(entry, wakes, keys)

    def _hold(self, key: str, until: float) -> None:
        """No repeat decision on the plan key before `until`."""
        self._not_before[key] = until
        self._calendar.held(key)

    def _take_refused_at_run(self) -> None:
        while self._refused_at_run:
            key, after = self._refused_at_run.popleft()
            self._hold(key, max(after, self._not_before.get(key, 0.0)))

    def _decide(
        self, action: ActionConfig, alert: Alert, now: float, *, repeat: bool
    ) -> str | None:
        """Returns the plan's key (None: no target)."""
        self._take_refused_at_run()
        dry = self.dry_run or action.dry_run
        try:
            plan = render_plan(action, alert, self.protected)
        except ProtectedUnitError as e:
            self._settle(alert.fingerprint, action)
            target = _template_target(action)
            self.recorder.skip(action, target, alert, h.REFUSED_PROTECTED, str(e), now, dry)
            return None
        except ValueError as e:
            self._settle(alert.fingerprint, action)
            target = _template_target(action)
            self.recorder.skip(action, target, alert, h.INVALID_TARGET, str(e), now, dry)
            return None
        if repeat and self._not_before.get(plan.key, 0.0) > now:
            return plan.key  # known to be cooling down or exhausted: spare the tick the queries
        if self._ran_in_firing(action, alert, dry):
            return plan.key  # `repeat: false`, and this firing (maybe read after a crash) had it
        bans = self.executors.get(action.type)
        if isinstance(bans, BanExecutor):  # allowlist, already banned, bans in force cap
            if repeat and bans.lifted_by_hand(plan, dry):
                self._hold(plan.key, now + 60.0)  # looked at again once a minute
                return plan.key
            refusal = bans.vet(plan, dry, now)
            if refusal is not None:
                # repeats again once the ban ended; past the cap once a place may have freed
                until = bans.refused_until(refusal[0], plan, dry, now)
                if until is not None:
                    self._hold(plan.key, until)
                if not (repeat and refusal[0] == SKIPPED_BANNED):
                    self.recorder.skip(action, plan.target, alert, *refusal, now, dry)
                return plan.key
        last = self.history_db.last_run(action.name, plan.target, dry)
        if last is not None and now - last < action.cooldown:
            self._hold(plan.key, last + action.cooldown)
            if not repeat:
                detail = (
                    f"last run at {clock_time(last)}, cooldown {format_duration(action.cooldown)}"
                )
                self.recorder.skip(action, plan.target, alert, h.SKIPPED_COOLDOWN, detail, now, dry)
            return plan.key
        window = self.history_db.runs(action.name, plan.target, now - action.limit.within, dry)
        if len(window) >= action.limit.count:
            self._exhausted(plan, window, now, dry, repeat)
            # the oldest run leaves the window just after window[0] + within
            self._hold(plan.key, window[0] + action.limit.within)
            return plan.key
        if self.history_db.count_all_since(now - 60.0) >= self.actions_per_minute:
            detail = f"global.actions_per_minute ({self.actions_per_minute}) reached"
            self.recorder.rate_limited(action, plan.target, alert, detail, now, dry)
            return plan.key
        self._run(plan, now, dry)
        return plan.key

    def _ran_in_firing(self, action: ActionConfig, alert: Alert, dry: bool) -> bool:
        """For a `repeat: false` action: whether it already ran in the alert's firing."""
        if action.repeat or action.on != "firing":
            return False
        if action.name in self._settled.get(alert.fingerprint, ()):
            return True
        since = self.firings.since(alert.fingerprint)
        if since is None or not self.history_db.ran_for(action.name, alert.fingerprint, since, dry):
            return False
        self._settle(alert.fingerprint, action)
        return True

    def _settle(self, fingerprint: str, action: ActionConfig | None) -> None:
        """A `repeat: false` action has nothing left to do in the firing (None: a new firing
        starts, and each of the alert's actions has its run to do again)."""
        if action is None:
            self._settled.pop(fingerprint, None)
        elif not action.repeat and action.on == "firing":
            self._settled.setdefault(fingerprint, set()).add(action.name)

    def _run(self, plan: ActionPlan, now: float, dry: bool) -> None:
        action, alert = plan.action, plan.alert
        self._settle(alert.fingerprint, action)
        bans = self.executors.get(action.type)
        if isinstance(bans, BanExecutor):  # its length, recorded, dry or not
            plan = bans.decide(plan, dry, now)
        what = plan.undo_state.get("what") or describe(action, plan.target, dry)
        if action.reverts:
            self.applied.hold(plan.key, action.name, plan.target, alert.fingerprint, dry)
        if dry:
            self.recorder.would_run(plan, what, now)
            return
        rid = self.recorder.started(plan, what, now)
        self.escalator.watch(plan, what, now)
        self._workers.submit(
            plan.worker_key,
            Job(lambda: self._execute(rid, plan, now), lambda: self.recorder.cancelled(rid, plan)),
        )

    def _execute(self, rid: int, plan: ActionPlan, decided: float) -> None:
        action = plan.action
        executor = self.executors[action.type]
        try:
            before = executor.undo_state(plan) if action.reverts else None
            if before is not None:  # kept before the apply: a crash in it leaves the revert owed
                self.applied.done(plan.key, before)
                plan = replace(plan, undo_state={**plan.undo_state, **before})
            detail, undo_state = executor.apply(plan)
        except ProtectedUnitError as e:
            outcome, detail = h.REFUSED_PROTECTED, str(e)
        except ActionError as e:
            outcome, detail = h.FAILED, str(e)
        except Exception as e:  # an executor bug must not kill the worker
            log.exception("action_crashed", action=action.name, target=plan.target)
            outcome, detail = h.FAILED, f"internal error: {e!r}"
        else:
            outcome = h.OK
            if action.reverts:
                self.applied.done(plan.key, undo_state)
        if outcome == h.OK:
            what = plan.undo_state.get("what") or describe(action, plan.target, False)
            detail = f"{what}: {detail}" if detail else what
        elif outcome == h.REFUSED_PROTECTED:
            # Not a run, so no cooldown follows it; not retried on every tick either, but, as a
            # refusal found when the target is rendered, once per cooldown. Set before the row
            # stops being `running` (which holds the cooldown meanwhile).
            self._refused_at_run.append((plan.key, decided + told_once_per(action)))
        self.recorder.finished(rid, plan, outcome, detail)

    # --- limits -----------------------------------------------------------------------------

    def _exhausted(
        self, plan: ActionPlan, window: list[float], now: float, dry: bool, repeat: bool
    ) -> None:
        action, alert = plan.action, plan.alert
        notified = self.history_db.last_outcome(action.name, plan.target, h.SKIPPED_LIMIT)
        already = notified is not None and notified >= window[-1]
        if already and repeat:
            return
        resume = window[0] + action.limit.within
        detail = (
            f"{len(window)} runs within {span(action.limit.within)}, "
            f"limit {action.limit.count}; resumes at {clock_time(resume)}"
        )
        self.recorder.record(action, plan.target, alert, h.SKIPPED_LIMIT, detail, now, dry)
        if already:
            return
        log.warning(
            "action_limit_reached",
            action=action.name,
            target=plan.target,
            count=len(window),
            fingerprint=alert.fingerprint,
        )
        self.escalator.exhausted(plan, window, now)

    def _forget(self, alert: Alert, now: float) -> None:
        """The alert resolved: drop its verify deadlines and lower its "ineffective" alerts
        ("exhausted" ones stay until the limit's window has room: Escalator.forget).

        Its firing's start stays, so the resolved notification's notes still show what was done.
        """
        fingerprint = alert.fingerprint
        self.firings.resolved(fingerprint, now, active_at=alert.active_at)
        self._settle(fingerprint, None)
        self.escalator.forget(fingerprint, now)


def _once(actions: Sequence[ActionConfig]) -> bool:
    """Whether one of the actions runs once per firing (so the firing's start is kept)."""
    return any(not a.repeat for a in actions)


def _template_target(action: ActionConfig) -> str:
    spec = action.spec
    for attr in ("unit", "pidfile", "collector", "address"):
        v = getattr(spec, attr, None)
        if v is not None:
            return str(getattr(v, "source", v))
    argv = getattr(spec, "argv", ())
    return " ".join(t.source for t in argv) or action.name
