"""The rules engine: events in, alert transitions out. Pure: time is always passed in.

`process` feeds events: each log line goes only to the rules of its source whose literal it
contains, and a log rule's key is evaluated at once (the crossing line fires in its own
processing); metric samples are stored. `tick` runs the periodic evaluation of each group whose
interval is due. The daemon, `alerter test` and `alerter replay` all drive this one class.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from rules.alert import Alert, Transition
from rules.logrules import _RATIO, LogRule
from rules.metricrules import MetricRule, SeriesKey
from rules.model import Group, RuleSet
from rules.state import AlertTable
from rules.templates import rfc3339
from rules.windows import EXAMPLES

SNAPSHOT_VERSION = 1
_LINE = attrgetter("line")
_SOURCE = attrgetter("source")
_SEP = "\n"


def _scan_literal(r: LogRule, text: str, events: Sequence[Any], lines: list[str], now: float,
                  out: list[Transition]) -> None:
    """Lines containing the rule's literal, found with str.find over the batch."""
    lit = r.literal
    assert lit is not None
    pos = text.find(lit)
    if pos < 0:
        return
    bucket = r.bucket(now)
    idx = last = 0
    while pos >= 0:
        idx += text.count(_SEP, last, pos)
        r.observe(events, idx, lines[idx], now, bucket, out)
        nxt = text.find(_SEP, pos)
        if nxt < 0:
            return
        idx += 1
        last = nxt + 1
        pos = text.find(lit, last)


def _scan_regex(r: LogRule, rx: re.Pattern[str], text: str, events: Sequence[Any],
                lines: list[str], now: float, out: list[Transition]) -> None:
    """Lines the rule's regex matches, found by one MULTILINE search over the batch; the
    first match in each line counts, as a search of the line alone would find. A `bulk`
    rule gets counts, not a call per line."""
    bucket = r.bucket(now)
    bulk, ratio = r.bulk, r.kind == _RATIO
    n = hits = 0
    tail: list[int] = []
    idx = last = pos = 0
    search = rx.search
    while True:
        m = search(text, pos)
        if m is None:
            break
        start = m.start()
        idx += text.count(_SEP, last, start)
        last = start
        if text.find(_SEP, start, m.end()) >= 0:  # spans lines: judge its line alone
            m = r.match.search(lines[idx]) if r.match is not None else None
        if m is not None:
            if not bulk:
                r.observe(events, idx, lines[idx], now, bucket, out, m)
            else:
                n += 1
                if ratio and r.of_ok(events, idx, lines[idx], m):
                    hits += 1
                if len(tail) == EXAMPLES:
                    del tail[0]
                tail.append(idx)
        nxt = text.find(_SEP, start)
        if nxt < 0:
            break
        idx += 1
        last = pos = nxt + 1
    if n:
        r.observe_counts(n, hits, [lines[i] for i in tail], now, bucket, out)


def _scan_lines(r: LogRule, rx: re.Pattern[str], text: str, lines: list[str], now: float,
                out: list[Transition]) -> None:
    """A bulk rule's lines counted by one finditer over the batch (`rx` consumes the rest of
    each line, so a line yields at most one match); matches that span lines are judged line
    by line."""
    ratio = r.kind == _RATIO
    n = hits = 0
    tail: list[int] = []
    for m in rx.finditer(text):
        start, end = m.span()
        if text.find(_SEP, start, end) < 0:
            n += 1
            if ratio and r.of_ok_groups(m):
                hits += 1
            tail.append(start)
            continue
        first = text.count(_SEP, 0, start)
        line_start = text.rfind(_SEP, 0, start) + 1
        for k in range(first, first + text.count(_SEP, start, end) + 1):
            mk = r.match.search(lines[k]) if r.match is not None else None
            if mk is not None:
                n += 1
                if ratio and r.of_ok_groups(mk):
                    hits += 1
                tail.append(line_start)
            line_start += len(lines[k]) + 1
    if n:
        examples = [lines[text.count(_SEP, 0, p)] for p in tail[-EXAMPLES:]]
        r.observe_counts(n, hits, examples, now, r.bucket(now), out)


def _count_lines(r: LogRule, rx: re.Pattern[str], text: str, lines: list[str], now: float,
                 out: list[Transition]) -> None:
    """A bulk rule whose matches cannot span lines: findall counts its lines in C (`rx` takes
    the rest of each line: one match per line); ratio tests `of` once per distinct value."""
    found = rx.findall(text)
    if not found:
        return
    hits = 0
    if r.kind == _RATIO:
        for value, n in Counter(found).items():
            if r.of_ok_found(value):
                hits += n
    r.observe_counts(len(found), hits, r.examples_from(lines), now, r.bucket(now), out)


class _Keyed:
    """A keyed rule's matches in one batch, gathered per key: count, field values, where
    its last lines are (offsets into the joined text, or line numbers)."""

    __slots__ = ("counts", "odd", "values", "where")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, ...], int] = {}
        self.values: dict[tuple[str, ...], list[str]] = {}
        self.where: dict[tuple[str, ...], list[int]] = {}
        self.odd: list[int] = []  # an optional group did not take part: judged on its own

    def hit(self, r: LogRule, m: re.Match[str], at: int) -> None:
        groups = r.key_groups
        key = (m.group(groups[0]),) if len(groups) == 1 else m.group(*groups)
        x = m.group(r.value_group) if r.value_group else ""
        if None in key or x is None:
            self.odd.append(at)
            return
        n = self.counts.get(key)
        if n is None:
            self.counts[key] = 1
            self.where[key] = [at]
            if r.value_group:
                self.values[key] = [x]
            return
        self.counts[key] = n + 1
        pos = self.where[key]
        pos.append(at)
        if len(pos) > EXAMPLES:
            del pos[0]
        if r.value_group:
            self.values[key].append(x)

    def flush(self, r: LogRule, events: Sequence[Any], lines: list[str], line_of: Any,
              now: float, out: list[Transition]) -> None:
        bucket = r.bucket(now)
        values = self.values if r.value_group else None
        for key, n in self.counts.items():
            r.observe_keyed(key, n, values[key] if values is not None else None,
                            [lines[line_of(p)] for p in self.where[key]], now, bucket, out)
        for p in self.odd:
            idx = line_of(p)
            r.observe(events, idx, lines[idx], now, bucket, out)


def _keyed_matches(r: LogRule, rx: re.Pattern[str], text: str, events: Sequence[Any],
                   lines: list[str], now: float, out: list[Transition]) -> None:
    """A `keyed` rule whose matches cannot span lines: one finditer over the batch (`rx`
    takes the rest of each line: one match per line), then each key is updated and evaluated
    once, with its last lines of the batch as examples."""
    acc = _Keyed()
    for m in rx.finditer(text):
        acc.hit(r, m, m.start())
    if not acc.counts and not acc.odd:
        return
    # line numbers of the offsets we need, counting newlines once through the batch
    wanted = sorted({p for ps in acc.where.values() for p in ps} | set(acc.odd))
    line_of: dict[int, int] = {}
    idx = last = 0
    for p in wanted:
        idx += text.count(_SEP, last, p)
        last = p
        line_of[p] = idx
    acc.flush(r, events, lines, line_of.__getitem__, now, out)


def _keyed_literal(r: LogRule, text: str, events: Sequence[Any], lines: list[str], now: float,
                   out: list[Transition]) -> None:
    """A `keyed` rule found through its literal: each candidate line is searched alone."""
    lit, search = r.literal, r.match.search  # type: ignore[union-attr]
    assert lit is not None
    acc = _Keyed()
    pos = text.find(lit)
    idx = last = 0
    while pos >= 0:
        idx += text.count(_SEP, last, pos)
        m = search(lines[idx])
        if m is not None:
            acc.hit(r, m, idx)
        nxt = text.find(_SEP, pos)
        if nxt < 0:
            break
        idx += 1
        last = nxt + 1
        pos = text.find(lit, last)
    acc.flush(r, events, lines, int, now, out)


class EngineHooks(Protocol):
    """Callbacks for what the daemon counts in self-metrics."""

    def template_error(self, group: str, message: str) -> None: ...

    def key_evicted(self, alertname: str, count: int) -> None: ...


class _NoHooks:
    def template_error(self, group: str, message: str) -> None:
        pass

    def key_evicted(self, alertname: str, count: int) -> None:
        pass


@dataclass(slots=True)
class _GroupRun:
    group: Group
    rules: list[LogRule | MetricRule]
    next_due: float | None = None
    last_eval: float | None = None
    errors: dict[str, str] = field(default_factory=dict)


class Engine:
    def __init__(self, ruleset: RuleSet, external_labels: Mapping[str, str],
                 hooks: EngineHooks | None = None) -> None:
        self._hooks: EngineHooks = hooks or _NoHooks()
        self._groups: list[_GroupRun] = []
        self._log_rules: list[LogRule] = []
        self._metric_rules: list[MetricRule] = []
        for g in ruleset.groups:
            run = _GroupRun(g, [])
            for rule in g.rules:
                table = AlertTable(rule, external_labels, self._hooks.template_error)
                rt: LogRule | MetricRule
                if rule.logs is not None:
                    rt = LogRule(rule, table, self._hooks.key_evicted)
                    self._log_rules.append(rt)
                else:
                    rt = MetricRule(rule, table)
                    self._metric_rules.append(rt)
                run.rules.append(rt)
            self._groups.append(run)
        self._plans: dict[str, tuple[LogRule, ...]] = {}  # log rules by source
        self._rule_errors: dict[str, str] = {}  # rule ident -> last error while processing
        self._by_series: dict[SeriesKey, tuple[MetricRule, ...]] = {}
        self._started: float | None = None

    # --- input ----------------------------------------------------------------------------

    def _start(self, now: float) -> None:
        self._started = now
        for run in self._groups:
            for rt in run.rules:
                if rt.started is None or rt.started == 0.0:
                    rt.start(now)

    def _plan(self, source: str) -> tuple[LogRule, ...]:
        rules = tuple(r for r in self._log_rules if not r.sources or source in r.sources)
        self._plans[source] = rules
        return rules

    def process(self, events: Sequence[Any], now: float) -> list[Transition]:
        """Feed a batch of LogEvent/Sample-like events that arrived at `now`."""
        if self._started is None:
            self._start(now)
        out: list[Transition] = []
        if not events:
            return out
        batch_lines = getattr(events, "lines", None)  # a collector's LogBatch: one source,
        batch_source = getattr(events, "source", None)  # events built only when indexed
        if isinstance(batch_lines, list) and isinstance(batch_source, str):
            self._process_logs(batch_source, events, batch_lines, now, out)
            return out
        try:
            lines = list(map(_LINE, events))
            sources = set(map(_SOURCE, events))
        except AttributeError:  # samples in the batch
            lines, sources = [], set()
        if len(sources) == 1 and len(lines) == len(events):
            self._process_logs(sources.pop(), events, lines, now, out)
        else:
            self._process_mixed(events, now, out)
        return out

    def _process_mixed(self, events: Sequence[Any], now: float, out: list[Transition]) -> None:
        by_source: dict[str, list[Any]] = {}
        for ev in events:
            if getattr(ev, "line", None) is None:
                self._sample(ev, now)
            else:
                by_source.setdefault(ev.source, []).append(ev)
        for source, evs in by_source.items():
            self._process_logs(source, evs, [ev.line for ev in evs], now, out)

    def _process_logs(self, source: str, events: Sequence[Any], lines: list[str], now: float,
                      out: list[Transition]) -> None:
        """One source's lines. The batch is joined once; a rule with a regex that starts with a
        literal, or with a literal every match contains, searches the joined text, so a line
        that matches nothing costs no Python work."""
        rules = self._plans.get(source) or self._plan(source)
        text = None
        if any(r.literal is not None or r.batch_match is not None for r in rules):
            text = _SEP.join(lines)
            if text.count(_SEP) != len(lines) - 1:
                text = None  # a line holds a newline (a multiline event): test line by line
        built = None
        for r in rules:
            try:
                if r.touches:
                    r.touch(source, lines, now, out)
                elif text is not None and r.batch_match is not None:
                    if r.keyed_match is not None:
                        _keyed_matches(r, r.keyed_match, text, events, lines, now, out)
                    elif r.count_in_c:
                        _count_lines(r, r.line_match, text, lines, now, out)  # type: ignore[arg-type]
                    elif r.line_match is not None:
                        _scan_lines(r, r.line_match, text, lines, now, out)
                    else:
                        _scan_regex(r, r.batch_match, text, events, lines, now, out)
                elif text is not None and r.literal is not None and r.keyed:
                    _keyed_literal(r, text, events, lines, now, out)
                elif text is not None and r.literal is not None:
                    _scan_literal(r, text, events, lines, now, out)
                else:
                    if built is None:  # build each event once for the rules that read all
                        built = events if isinstance(events, list) else list(events)
                    lit, bucket = r.literal or "", r.bucket(now)
                    for idx, line in enumerate(lines):
                        if lit in line:
                            r.observe(built, idx, line, now, bucket, out)
            except Exception as e:  # a bug in one rule must not stop the others
                self._rule_errors[r.rule.ident] = f"{type(e).__name__}: {e}"

    def _sample(self, s: Any, now: float) -> None:
        labels: Mapping[str, str] = s.labels
        sk: SeriesKey = (s.name, tuple(sorted(labels.items())))
        rules = self._by_series.get(sk)
        if rules is None:
            rules = tuple(r for r in self._metric_rules if r.selector.matches(s.name, labels))
            self._by_series[sk] = rules
        for r in rules:
            r.add(sk, labels, s.value, now)

    # --- evaluation -------------------------------------------------------------------------

    def tick(self, now: float) -> list[Transition]:
        """Evaluate every group whose interval is due at `now`."""
        if self._started is None:
            self._start(now)
        out: list[Transition] = []
        for run in self._groups:
            if run.next_due is None or now >= run.next_due:
                self._evaluate_group(run, now, out)
                interval = run.group.interval
                nxt = (run.next_due or now) + interval
                run.next_due = nxt if nxt > now else now + interval
        return out

    def evaluate(self, now: float) -> list[Transition]:
        """Evaluate every group now, due or not (rule tests step through time this way)."""
        if self._started is None:
            self._start(now)
        out: list[Transition] = []
        for run in self._groups:
            self._evaluate_group(run, now, out)
        return out

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
        return [a for run in self._groups for rt in run.rules for a in rt.table.alerts()]

    def rule_health(self) -> list[dict[str, Any]]:
        out = []
        for run in self._groups:
            g = run.group
            rules = []
            for rt in run.rules:
                err = (run.errors.get(rt.rule.ident) or self._rule_errors.get(rt.rule.ident)
                       or rt.table.last_error)
                states = [i.state for i in rt.table.active.values()]
                rules.append({
                    "name": rt.rule.alert,
                    "type": "alerting",
                    "kind": "logs" if rt.rule.logs is not None else "metric",
                    "aggregate": rt.rule.aggregate,
                    "health": "err" if err else "ok",
                    "lastError": err,
                    "state": "firing" if "firing" in states else
                             "pending" if states else "inactive",
                    "alerts": len(states),
                    "lastEvaluation": rfc3339(run.last_eval) if run.last_eval is not None else None,
                })
            out.append({"name": g.name, "file": g.file, "interval": g.interval,
                        "lastEvaluation": rfc3339(run.last_eval) if run.last_eval is not None else None,
                        "rules": rules})
        return out

    # --- restart safety -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        rules: dict[str, Any] = {}
        for run in self._groups:
            for rt in run.rules:
                rules[rt.rule.ident] = {
                    "signature": rt.rule.signature,
                    "alerts": rt.table.dump(),
                    "window": rt.dump(),
                }
        return {"version": SNAPSHOT_VERSION, "started": self._started, "rules": rules,
                "groups": {run.group.name: run.next_due for run in self._groups}}

    def restore(self, data: Mapping[str, Any], now: float) -> None:
        """Take back alert states and windows saved by `snapshot`; rules that changed
        definition keep their alert states but start with empty windows."""
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
                    rt.load(d.get("window", {}))
        if data.get("started") is not None and self._started is None:
            self._start(float(data["started"]))
