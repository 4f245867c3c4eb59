"""What the runner writes of each decision and of what came of it: a row in the action history,
a count in `alerter_actions_total`, a log event.

The runner decides; this module writes, so the history and the metric say the same. A decision
not to run is written once per cooldown (at least a minute), not on every tick that makes it
again; refusals by the global per-minute cap are one row per action and cooldown, whose detail
counts the alerts refused (each once: the same refusal on the next tick is not a new one). The
alerts a row counts other than its own are kept in memory, so each one's notes and history show
the refusal (`refusals`). Runs an earlier process left `running` are written `interrupted` at
start.

The `action_skipped` lines keep within a log budget (alerter/core/linebudget.py): a storm of
distinct alerts each skipped (a fixed target in its cooldown, a ban refused by global.max_bans)
made a warning each; past the budget each is at debug level and one `action_skips_not_logged`
line at most every 10 s counts them by action and outcome. Every skip still has its history
row and its count in the metric.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

from alerter.actions import history as h
from alerter.actions.config import ActionConfig
from alerter.actions.executors import ActionPlan
from alerter.actions.notes import clock_time
from alerter.core.linebudget import BUDGET, LineBudget, summary
from alerter.rules.alert import Alert
from alerter.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

K = TypeVar("K", bound=Hashable)
KEEP = 10_000  # skips (refused alerts) kept before those written an hour ago are forgotten


def told_once_per(action: ActionConfig) -> float:
    """A decision not to run that repeats (a skip, a refusal, the cap's) is recorded at most
    once in this long: the action's cooldown, and at least a minute (the cap's window)."""
    return max(action.cooldown, 60.0)


class OutcomeRecorder:
    """`finished` and `cancelled` are called by the worker threads (the history and the metric
    are thread-safe), the rest by the main loop."""

    def __init__(self, history_db: h.ActionHistory, metrics: Metrics) -> None:
        self.history_db = history_db
        self.metrics = metrics
        self._skips: dict[tuple[str, str, str, str], float] = {}
        self._skips_by_age = _ByAge[tuple[str, str, str, str]]()
        self._rate_rows: dict[str, _RateLimitedRow] = {}  # action -> this cooldown's row
        # fingerprint -> action -> the alert's latest refusal by the cap (read by any thread)
        self._refusals: dict[str, dict[str, _Refusal]] = {}
        self._refusals_lock = threading.Lock()
        self._refusals_by_age = _ByAge[tuple[str, str]]()  # (fingerprint, action)
        self._lines: LineBudget[tuple[str, str]] = LineBudget()  # (action, outcome) held back

    def record(
        self,
        action: ActionConfig,
        target: str,
        alert: Alert,
        outcome: str,
        detail: str,
        now: float,
        dry: bool,
    ) -> None:
        self.history_db.add(
            now, action.name, target, alert.fingerprint, alert.alertname, outcome, dry, detail
        )
        self.metrics.actions.labels(action.name, outcome).inc()

    # --- runs -------------------------------------------------------------------------------

    def would_run(self, plan: ActionPlan, what: str, now: float) -> None:
        """A dry run: the decision is the whole of it."""
        action, alert = plan.action, plan.alert
        self.record(action, plan.target, alert, h.DRY_RUN, what, now, dry=True)
        log.info(
            "action_dry_run",
            action=action.name,
            target=plan.target,
            alertname=alert.alertname,
            fingerprint=alert.fingerprint,
            would=what,
        )

    def started(self, plan: ActionPlan, what: str, now: float) -> int:
        """A run handed to the workers: its `running` row, whose id `finished` updates."""
        action, alert = plan.action, plan.alert
        rid = self.history_db.add(
            now,
            action.name,
            plan.target,
            alert.fingerprint,
            alert.alertname,
            h.RUNNING,
            False,
            what,
        )
        log.info(
            "action_started",
            action=action.name,
            target=plan.target,
            alertname=alert.alertname,
            fingerprint=alert.fingerprint,
        )
        return rid

    def finished(self, rid: int, plan: ActionPlan, outcome: str, detail: str) -> None:
        self.history_db.finish(rid, outcome, detail)
        self.metrics.actions.labels(plan.action.name, outcome).inc()
        (log.info if outcome == h.OK else log.warning)(
            "action_finished",
            action=plan.action.name,
            target=plan.target,
            outcome=outcome,
            detail=detail,
            fingerprint=plan.alert.fingerprint,
        )

    def cancelled(self, rid: int, plan: ActionPlan) -> None:
        self.history_db.finish(rid, h.FAILED, "cancelled: alerter stopped before it ran")
        self.metrics.actions.labels(plan.action.name, h.FAILED).inc()

    def mark_interrupted(self) -> None:
        """Runs an earlier process left `running` (it crashed, or its stop could not wait):
        recorded as `interrupted`, once, and counted."""
        for rec in self.history_db.interrupt_left_running():
            self.metrics.actions.labels(rec.action, h.INTERRUPTED).inc()
            log.warning(
                "action_interrupted",
                action=rec.action,
                target=rec.target,
                fingerprint=rec.fingerprint,
                started=rec.time,
            )

    # --- decisions not to run ---------------------------------------------------------------

    def skip(
        self,
        action: ActionConfig,
        target: str,
        alert: Alert,
        outcome: str,
        detail: str,
        now: float,
        dry: bool,
    ) -> None:
        """Record a decision not to run, once per cooldown, not on every tick."""
        key = (action.name, target, alert.fingerprint, outcome)
        last = self._skips.get(key)
        if last is not None and now - last < told_once_per(action):
            return
        self._skips[key] = now
        self._skips_by_age.add(now, key, self._skips.get)
        self.record(action, target, alert, outcome, detail, now, dry)
        (log.warning if self._lines.allow((action.name, outcome)) else log.debug)(
            "action_skipped",
            action=action.name,
            target=target,
            outcome=outcome,
            detail=detail,
            fingerprint=alert.fingerprint,
        )
        self.tell_held()

    def tell_held(self, force: bool = False) -> None:
        """Count the `action_skipped` lines held back, when a summary is due (or `force`)."""
        held = self._lines.take_held(force)
        if not held:
            return
        log.warning(
            "action_skips_not_logged",
            **summary(held, "actions"),
            hint=f"more skipped actions than {BUDGET}: each is at debug level, in the action "
            "history and in alerter_actions_total",
        )

    def rate_limited(
        self, action: ActionConfig, target: str, alert: Alert, detail: str, now: float, dry: bool
    ) -> None:
        """A refusal by the global cap: one row per action and cooldown (at least a minute, the
        cap's window) whose detail counts the alerts refused, each once in the row's time (as
        the metric does): a storm of new targets is one row, not one each, and an alert the cap
        holds back is not refused anew on every tick."""
        fingerprint = alert.fingerprint
        row = self._rate_rows.get(action.name)
        if row is not None and now - row.since < told_once_per(action):
            if fingerprint in row.alerts:
                return  # the same decision again: the alert is still waiting
            row.alerts.add(fingerprint)
            row.detail = (
                f"{detail}; {len(row.alerts)} alerts refused since {clock_time(row.since)}, "
                f"the last on {target}"
            )
            self.history_db.finish(row.id, h.RATE_LIMITED, row.detail)
        else:
            rid = self.history_db.add(
                now,
                action.name,
                target,
                fingerprint,
                alert.alertname,
                h.RATE_LIMITED,
                dry,
                detail,
            )
            row = _RateLimitedRow(rid, now, fingerprint, detail, {fingerprint})
            self._rate_rows[action.name] = row
            log.warning(
                "action_skipped",
                action=action.name,
                target=target,
                outcome=h.RATE_LIMITED,
                detail=detail,
                fingerprint=fingerprint,
            )
        self.metrics.actions.labels(action.name, h.RATE_LIMITED).inc()
        with self._refusals_lock:
            self._refusals.setdefault(fingerprint, {})[action.name] = _Refusal(
                row, now, target, alert.alertname, dry
            )
            self._refusals_by_age.add(now, (fingerprint, action.name), self._refused_at)

    def refusals(self, fingerprint: str) -> list[h.Record]:
        """The alert's refusals by the global cap that a row of another alert counts, as they
        read for this alert (its target, the time it was refused, the shared row's id and
        detail); newest first. Kept in memory: a restart forgets them."""
        with self._refusals_lock:
            refusals = list(self._refusals.get(fingerprint, {}).items())
        out = [
            h.Record(
                self.history_db.current_id(r.row.id),
                r.time,
                action,
                r.target,
                fingerprint,
                r.alertname,
                h.RATE_LIMITED,
                r.dry,
                r.row.detail,
            )
            for action, r in refusals
            if r.row.fingerprint != fingerprint  # the row's own alert: the row is its record
        ]
        return sorted(out, key=lambda r: r.time, reverse=True)

    def trim(self, now: float) -> None:
        """Forget the skips written an hour ago or more, once there are many (and tell the skip
        lines held back, when due); oldest first, not a copy of them all at every tick. A skip
        forgotten is recorded again at its next decision, even within its cooldown."""
        self.tell_held()
        if len(self._skips) > KEEP:
            for key in self._skips_by_age.older(now, 3600.0, self._skips.get):
                del self._skips[key]
        if len(self._refusals) > KEEP:
            with self._refusals_lock:
                for fingerprint, action in self._refusals_by_age.older(
                    now, 3600.0, self._refused_at
                ):
                    by_action = self._refusals[fingerprint]
                    del by_action[action]
                    if not by_action:
                        del self._refusals[fingerprint]

    def _refused_at(self, key: tuple[str, str]) -> float | None:
        refusal = self._refusals.get(key[0], {}).get(key[1])
        return None if refusal is None else refusal.time


class _ByAge(Generic[K]):
    """Keys by the time they were last set, oldest first; `current(key)` is that time (None:
    gone), and a record of a key set again since is skipped."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, K]] = []
        self._compact_at = 1000

    def add(self, time: float, key: K, current: Callable[[K], float | None]) -> None:
        heapq.heappush(self._heap, (time, key))
        if len(self._heap) > self._compact_at:  # of keys set again or gone
            self._heap = [(t, k) for t, k in self._heap if current(k) == t]
            heapq.heapify(self._heap)
            self._compact_at = max(1000, 2 * len(self._heap))

    def older(self, now: float, age: float, current: Callable[[K], float | None]) -> Iterator[K]:
        """Take out the keys set `age` or more before `now`."""
        while self._heap and not now - self._heap[0][0] < age:
            time, key = heapq.heappop(self._heap)
            if current(key) == time:
                yield key


@dataclass(slots=True)
class _RateLimitedRow:
    """One `rate_limited` row and the alerts it counts."""

    id: int
    since: float
    fingerprint: str  # the alert the row was written for
    detail: str
    alerts: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Refusal:
    """An alert's refusal by the cap, counted in `row`."""

    row: _RateLimitedRow
    time: float
    target: str
    alertname: str
    dry: bool
