"""The rules engine: events in, alert transitions out. Pure: time is always passed in.

`process` feeds one source's log lines (a `LogLines`, core/events.py) to the rules of that
source through batch-wide searches (rules/scan.py), each line parsed only if a rule looks at
it, and a log rule's key is evaluated within the batch's processing (the crossing line fires
the alert then, not at the next tick); `process_samples` stores metric samples. `tick` runs the
periodic evaluation of each group whose interval is due. The daemon, `alerter test` and
`alerter replay` all drive this one class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerter.core import eventtime
from alerter.core.events import LogLines, Sample
from alerter.rules import quiet
from alerter.rules.alert import Alert, Listing, Transition
from alerter.rules.enginehooks import EngineHooks, NoHooks
from alerter.rules.logmetrics import LogMetrics
from alerter.rules.logrules import LogRule
from alerter.rules.metricrules import MetricRule, SeriesKey
from alerter.rules.model import Group, RuleSet
from alerter.rules.plans.anyliteral import any_literals
from alerter.rules.plans.literals import LiteralSet
from alerter.rules.scan import Offload, feed
from alerter.rules.state import AlertTable
from alerter.rules.templates import rfc3339

SNAPSHOT_VERSION = 1
SEP = "\n"
# a series not sampled for this long is forgotten by the engine (which rules select it: found
# again if it comes back), as Prometheus's 5m staleness lookback forgets it; the rules keep
# their own samples for their windows
SERIES_FORGET_AFTER = 300.0


class _Selected:
    """The metric rules that select one series, and when it was last sampled."""

    __slots__ = ("rules", "seen")

    def __init__(self, rules: tuple[MetricRule, ...], seen: float) -> None:
        self.rules = rules
        self.seen = seen


@dataclass(slots=True)
class _GroupRun:
    group: Group
    rules: list[LogRule | MetricRule]
    next_due: float | None = None
    last_eval: float | None = None
    errors: dict[str, str] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        ruleset: RuleSet,
        external_labels: Mapping[str, str],
        hooks: EngineHooks | None = None,
        offload: Offload | None = None,
    ) -> None:
        self._hooks: EngineHooks = hooks or NoHooks()
        self._offload = offload  # may run bulk rules' passes elsewhere (alerter.rules.scan.feed)
        self._groups: list[_GroupRun] = []
        self._log_rules: list[LogRule] = []
        self._metric_rules: list[MetricRule] = []
        for g in ruleset.groups:
            run = _GroupRun(g, [])
            for rule in g.rules:
                table = AlertTable(rule, external_labels, self._hooks.template_error)
                rt: LogRule | MetricRule
                if rule.logs is not None:
                    rt = LogRule(rule, table)
                    self._log_rules.append(rt)
                else:
                    rt = MetricRule(rule, table)
                    self._metric_rules.append(rt)
                run.rules.append(rt)
            self._groups.append(run)
        self._by_source: dict[str, tuple[LogRule, ...]] = {}  # log rules by source
        # per source: literals one of which every line its rules can count holds (each rule's
        # pre-filter literal, else the few its regex's matches each hold one of), None when a
        # rule has none: only the times of the lines holding one are read
        self._wanted: dict[str, tuple[str, ...] | None] = {}
        # per source: the literals its rules' plans search for, told present or absent in one
        # pass over each batch (rules/plans/literals.py)
        self._literals: dict[str, LiteralSet] = {}
        self._rule_errors: dict[str, str] = {}  # rule ident -> last error while processing
        self._by_series: dict[SeriesKey, _Selected] = {}
        self._series_pruned = -math.inf  # when _by_series was last pruned
        self._started: float | None = None
        # the rule groups' `metrics:`, fed every batch beside the rules (rules/logmetrics.py)
        self.log_metrics = LogMetrics(ruleset.log_metrics())

    # --- input ----------------------------------------------------------------------------

    def _start(self, now: float) -> None:
        self._started = now
        for run in self._groups:
            for rt in run.rules:
                if rt.started is None or rt.started == 0.0:
                    rt.start(now)

    def _rules_of(self, source: str) -> tuple[LogRule, ...]:
        rules = tuple(r for r in self._log_rules if not r.sources or source in r.sources)
        self._by_source[source] = rules
        self._literals[source] = LiteralSet(w for r in rules for w in r.plan.searched())
        lits: list[str] = []
        for r in rules:
            some = (r.literal,) if r.literal else any_literals(r.match) if r.match else None
            if not some or any(not w or SEP in w for w in some):
                self._wanted[source] = None  # (a rule that may count any line)
                return rules
            lits += some
        self._wanted[source] = eventtime.minimal(lits)
        return rules

    def process(self, batch: LogLines, now: float, at: float | None = None) -> list[Transition]:
        """Feed one source's log lines to the rules of that source; `now` is the engine's
        clock. Each line is placed at its own time (DESIGN "Event time"): `at` when the caller
        knows all the lines to be of that time (replay's runs), else the batch's runs of one
        time each (`LogLines.at_times`). A line older than a rule's window at `now` counts for
        nothing in that rule; lines older than the windows of all the source's rules are
        reported to the hooks' `events_uncounted`, with the age of the newest, and those older
        than the window of any (all of them too) to `events_too_old`, with the rules missing
        the newest. When every rule of the source has literals one of which each line it
        counts holds, only the times of the lines holding one are read (no rule counts the
        others; they are not counted late either)."""
        if self._started is None:
            self._start(now)
        out: list[Transition] = []
        if not len(batch):
            return out
        rules = self._by_source.get(batch.source) or self._rules_of(batch.source)
        # the log-derived metrics read the batch once, beside the rules' first pass (while
        # the scan helper runs the bulk passes), or alone when no rule reads it
        metrics = self.log_metrics.pass_for(batch) if self.log_metrics else None
        if not rules:
            if metrics is not None:
                metrics()
            return out  # (no line's time to read)
        for r in rules:
            r.clock = now
        late, late_at = 0, -math.inf  # (late lines, the time of the newest)
        old, old_at = 0, -math.inf  # (lines too old for some rule, the time of the newest)
        runs = batch.runs(self._wanted[batch.source]) if at is None else ((at, batch, len(batch)),)
        lits = self._literals[batch.source]
        text = batch.text if len(lits) else None
        absent = lits.absent(text) if text is not None else frozenset()
        for t, part, timed in runs:
            live: Sequence[LogRule] = rules
            if any(r.late(t, now) for r in rules):
                live = [r for r in rules if not r.late(t, now)]
                old += timed
                old_at = t if timed and t > old_at else old_at
                if not live:  # (late: no rule could count these lines)
                    late += timed
                    late_at = t if timed and t > late_at else late_at
            if live:
                feed(live, part, t, out, self._rule_errors, self._offload, metrics, absent, lits)
                metrics = None
        if metrics is not None:  # (every line late for every rule)
            metrics()
        if late:
            self._hooks.events_uncounted(batch.source, late, now - late_at, now)
        if old:
            missed = sorted((r.reach, r.rule.alert) for r in rules if r.late(old_at, now))
            self._hooks.events_too_old(
                batch.source,
                old,
                now - old_at,
                now,
                tuple((a, w) for w, a in missed),
                batch.backlog,
            )
        for r in rules:
            if r.evicted:
                self._report_evictions(r)
        return out

    def process_samples(self, samples: Iterable[Sample], now: float) -> None:
        """Store metric samples that arrived at `now` (metric rules evaluate them at `tick`).
        Each is placed at its own time (a scrape's, or the timestamp its exposition gave), no
        later than `now`; one not newer than its series' last sample is dropped, as
        Prometheus's storage drops duplicate and out-of-order samples."""
        if self._started is None:
            self._start(now)
        for s in samples:
            self._sample(s, now)
        self._forget_series(now)

    def _forget_series(self, now: float) -> None:
        """Drop the series not sampled for SERIES_FORGET_AFTER (label churn must not grow
        memory, least of all for series no rule selects); a pass every SERIES_FORGET_AFTER."""
        if now - self._series_pruned < SERIES_FORGET_AFTER:
            return
        self._series_pruned = now
        horizon = now - SERIES_FORGET_AFTER
        gone = [sk for sk, sel in self._by_series.items() if sel.seen < horizon]
        for sk in gone:
            del self._by_series[sk]

    def _report_evictions(self, r: LogRule) -> None:
        n, r.evicted = r.evicted, 0
        self._hooks.key_evicted(r.rule.alert, n, "max_keys")

    def _sample(self, s: Sample, now: float) -> None:
        labels: Mapping[str, str] = s.labels
        sk: SeriesKey = (s.name, tuple(sorted(labels.items())))
        sel = self._by_series.get(sk)
        if sel is None:
            rules = tuple(r for r in self._metric_rules if r.selector.matches(s.name, labels))
            sel = self._by_series[sk] = _Selected(rules, now)
        else:
            sel.seen = now
        t = s.time if s.time < now else now
        for r in sel.rules:
            r.add(sk, labels, s.value, t)

    # --- evaluation -------------------------------------------------------------------------

    def tick(self, now: float, timer: Callable[[], float] | None = None) -> list[Transition]:
        """Evaluate every group whose interval is due at `now`. With a `timer` (a monotonic
        clock the caller passes in), each group's evaluation is timed and reported to the
        hooks' `evaluation_duration(group, seconds)`."""
        if self._started is None:
            self._start(now)
        self._feed_log_metrics(now)
        out: list[Transition] = []
        for run in self._groups:
            if run.next_due is None or now >= run.next_due:
                if timer is not None:
                    t0 = timer()
                    self._evaluate_group(run, now, out)
                    self._hooks.evaluation_duration(run.group.name, timer() - t0)
                else:
                    self._evaluate_group(run, now, out)
                interval = run.group.interval
                nxt = (run.next_due or now) + interval
                run.next_due = nxt if nxt > now else now + interval
        return out

    def next_due(self) -> float | None:
        """When the next group evaluation is due (None before the first `tick`, or without
        groups): replay steps its clock through these."""
        return min((r.next_due for r in self._groups if r.next_due is not None), default=None)

    def quiet_until(self, now: float) -> float:
        """After an evaluation at `now`: the earliest time at which an evaluation could change
        an alert with no new input (`now`: any may; inf: none can). Replay skips the
        evaluations before it (alerter.rules.quiet)."""
        return min((quiet.until(rt, now) for run in self._groups for rt in run.rules), default=now)

    def skip_to(self, t: float, keep_last: bool = False) -> None:
        """Move each group's next due evaluation to the first of its due times at or after `t`
        (the evaluations between change nothing: `quiet_until`); `keep_last`: to the last one
        before `t`, which sets the values of firing alerts as evaluating all would have."""
        for run in self._groups:
            due, interval = run.next_due, run.group.interval
            target = t - interval if keep_last else t
            if due is not None and due < target:
                run.next_due = due + math.ceil((target - due) / interval) * interval

    def evaluate(self, now: float) -> list[Transition]:
        """Evaluate every group now, due or not (rule tests step through time this way)."""
        if self._started is None:
            self._start(now)
        self._feed_log_metrics(now)
        out: list[Transition] = []
        for run in self._groups:
            self._evaluate_group(run, now, out)
        return out

    def _feed_log_metrics(self, now: float) -> None:
        """Metric rules read the log-derived metrics by name, as samples at each evaluation."""
        if self.log_metrics and self._metric_rules:
            for s in self.log_metrics.samples(now):
                self._sample(s, now)
            self._forget_series(now)

    def _evaluate_group(self, run: _GroupRun, now: float, out: list[Transition]) -> None:
        run.last_eval = now
        for rt in run.rules:
            try:
                rt.evaluate(now, out)
            except Exception as e:  # a bug in one rule must not stop the others
                run.errors[rt.rule.ident] = f"{type(e).__name__}: {e}"
            else:
                run.errors.pop(rt.rule.ident, None)

    # --- views ------------------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """The pending and firing alerts."""
        out: list[Alert] = []
        for run in self._groups:
            for rt in run.rules:
                out += rt.table.listing().alerts
        return out

    def listings(self) -> list[Listing]:
        """Each rule's pending and firing alerts, in the order of `alerts`: a rule's Listing
        is the same object while none of its alerts changed."""
        return [rt.table.listing() for run in self._groups for rt in run.rules]

    def rule_health(self) -> list[dict[str, Any]]:
        out = []
        for run in self._groups:
            g = run.group
            rules = []
            for rt in run.rules:
                err = (
                    run.errors.get(rt.rule.ident)
                    or self._rule_errors.get(rt.rule.ident)
                    or rt.table.last_error
                )
                states = [i.state for i in rt.table.active.values()]
                rules.append(
                    {
                        "name": rt.rule.alert,
                        "type": "alerting",
                        "kind": "logs" if rt.rule.logs is not None else "metric",
                        "aggregate": rt.rule.aggregate,
                        "health": "err" if err else "ok",
                        "lastError": err,
                        "state": "firing"
                        if "firing" in states
                        else "pending"
                        if states
                        else "inactive",
                        "alerts": len(states),
                        "lastEvaluation": rfc3339(run.last_eval)
                        if run.last_eval is not None
                        else None,
                    }
                )
            out.append(
                {
                    "name": g.name,
                    "file": g.file,
                    "interval": g.interval,
                    "lastEvaluation": rfc3339(run.last_eval) if run.last_eval is not None else None,
                    "rules": rules,
                }
            )
        return out

    # --- restart safety -------------------------------------------------------------------

    def snapshot(self, lazy: bool = False) -> dict[str, Any]:
        """Alert states and windows, as JSON values; `lazy` (the checkpoint): a log rule's
        key tables as Rows, made in pieces as they are written (alerter.rules.rows)."""
        rules: dict[str, Any] = {}
        for run in self._groups:
            for rt in run.rules:
                rules[rt.rule.ident] = {
                    "signature": rt.rule.signature,
                    "alerts": rt.table.dump(),
                    "window": rt.dump(lazy) if isinstance(rt, LogRule) else rt.dump(),
                }
        return {
            "version": SNAPSHOT_VERSION,
            "started": self._started,
            "rules": rules,
            "groups": {run.group.name: run.next_due for run in self._groups},
            "logmetrics": self.log_metrics.dump(),
        }

    def take_over(self, old: Engine, now: float) -> None:
        """For a reload: `restore(old.snapshot(), now)`, except that a log rule whose windows
        are unchanged (`Rule.keeps_windows_of`: it may have moved in its file, or changed its
        thresholds, labels or actions) takes the old rule's key tables as they are
        (`KeyedWindows.adopt`) instead of a copy of every key, and the other rules' tables are
        read from the old ones as they are loaded, with no list of them made in between."""
        live = {rt.rule.ident: rt for run in old._groups for rt in run.rules}
        self.restore(old.snapshot(lazy=True), now, live)

    def restore(
        self, data: Mapping[str, Any], now: float, live: Mapping[str, object] | None = None
    ) -> None:
        """Take back alert states and windows saved by `snapshot`; rules that changed
        definition keep their alert states but start with empty windows. `live`: the rules
        the snapshot was taken from, by ident (`take_over`)."""
        if not data or data.get("version") != SNAPSHOT_VERSION:
            return
        saved = data.get("rules", {})
        for run in self._groups:
            for rt in run.rules:
                d = saved.get(rt.rule.ident)
                if d is None:
                    continue
                rt.table.load(d.get("alerts", []))
                if d.get("signature") == rt.rule.signature:
                    prior = live.get(rt.rule.ident) if live else None
                    if (
                        isinstance(rt, LogRule)
                        and isinstance(prior, LogRule)
                        and rt.rule.keeps_windows_of(prior.rule)
                    ):
                        rt.adopt(prior)
                    else:
                        rt.load(d.get("window", {}))
                    if isinstance(rt, LogRule) and rt.evicted:
                        self._report_evictions(rt)  # past a lowered max_keys
        self.log_metrics.load(data.get("logmetrics") or {})
        if data.get("started") is not None and self._started is None:
            self._start(float(data["started"]))
