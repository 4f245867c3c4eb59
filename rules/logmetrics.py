"""Log-derived metrics at run time (DESIGN "Log-derived metrics"): each `metrics:` entry of
the rule groups turned into series, on the engine's batch path (`Engine.process` hands every
batch here beside its rules; no line is read twice for it).

A metric reads a batch as the rules' plans do: its regex, confined to one line, searched over
the batch's text when it starts with a literal, else the lines holding its literal; a line is
split out, and its event built (parsed), only when a matching line needs it (`exclude`,
`where`, a label or value that is a parsed field). Each batch's values are summed per label set
first and merged once, so a series is replaced whole (a scrape reading a copy of the table from
another thread sees a consistent value) and the table keeps the least recently updated series
first: past `max_series` those are evicted, and counted.

A metric that reads only its regex (labels and value from its groups, no `exclude` or
`where`) takes a text batch in bulk, as the rules' bulk plans do: one `findall` of its regex
(widened to the rest of the line: the first match of each line) and the counting in C
(`Counter`, `map(float, ...)`, `sorted` and bisect for buckets), no Python work per line.
That pass is rules/metricbulk.py's: for a large batch the scan helper runs it beside the rules'
bulk passes (`pass_for`, rules/scan.feed), and the metric merges the summary it returns.
A label or value named by a regex group is that group's text (empty when the group took no
part), never a parsed field of the same name, so both paths read the same.

Pure: no clock, no I/O. Values are plain floats (counter, gauge) or a `Hist` (histogram).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from alerter.core.events import LogLines, Sample
from alerter.rules.bulk import NoMatch
from alerter.rules.matchers import Matcher
from alerter.rules.matchers import value_matches as _test
from alerter.rules.metricbulk import (
    AnySummary,
    MetricDelta,
    MetricSpec,
    bucketed,
    number,
    summarize_metric,
)
from alerter.rules.model import LogMetric
from alerter.rules.prefilter import batch_pattern, line_confined, line_pattern

SEP = "\n"
LabelValues = tuple[str, ...]


class Hist(NamedTuple):
    """A histogram series: observations per bucket (not cumulative; the last is +Inf), sum."""

    counts: tuple[int, ...]
    sum: float

    @property
    def n(self) -> int:
        """How many observations."""
        return sum(self.counts)

    def cumulative(self) -> list[int]:
        out, n = [], 0
        for c in self.counts:
            n += c
            out.append(n)
        return out


def _lookup(name: str, in_groups: bool, m: re.Match[str] | None, batch: LogLines, idx: int) -> str:
    """A label or value: the regex group of that name, else the parsed field of line idx."""
    if in_groups:
        return (m.group(name) if m is not None else None) or ""
    ev = batch.event(idx)
    v = ev.fields.get(name)
    if v is not None:
        return v
    return ev.source if name == "source" else ""


class MetricState:
    """One log-derived metric: how it finds its lines, and its series."""

    def __init__(self, metric: LogMetric) -> None:
        self.metric = metric
        sel = metric.logs
        self.sources = sel.sources
        self.match = sel.match
        self.exclude = sel.exclude
        self.literal = sel.literal
        groups: Mapping[str, int] = self.match.groupindex if self.match is not None else {}
        self.where: tuple[tuple[Matcher, bool], ...] = tuple(
            (mt, mt.name in groups) for mt in sel.where
        )
        self.by = tuple((b, b in groups) for b in metric.by)
        self.field = metric.field
        self.field_in_groups = metric.field in groups if metric.field else False
        one = line_confined(self.match) if self.match is not None else None
        self.scan = batch_pattern(one) if one is not None else None
        self.bulk = self._bulk_pattern()
        self.spec = self._spec()
        # least recently updated first; a series is replaced in place (never absent for a
        # moment: a scrape copying the table meanwhile sees every series)
        self.series: OrderedDict[LabelValues, float | Hist] = OrderedDict()
        self.evicted = 0  # series evicted past max_series, since start
        self.last_error: str | None = None

    def _spec(self) -> MetricSpec | None:
        """The metric's bulk pass (rules/metricbulk.py), when it has one."""
        rx = self.bulk
        if rx is None:
            return None
        m = self.metric
        return MetricSpec(
            m.type,
            rx,
            tuple(rx.groupindex[b] - 1 for b in m.by),
            rx.groupindex[m.field] - 1 if m.field else None,
            tuple(float(b) for b in m.buckets),
        )

    def _bulk_pattern(self) -> re.Pattern[str] | None:
        """The regex for `findall` over a batch (one match a line), when the metric reads
        nothing but its groups; None otherwise."""
        if self.scan is None or self.exclude is not None or self.where:
            return None
        if not all(g for _, g in self.by) or (self.field is not None and not self.field_in_groups):
            return None
        return line_pattern(self.scan)

    def apply(self, got: AnySummary) -> bool:
        """Merge a batch's bulk summary (computed here or in the scan helper); False when the
        batch must be read line by line instead (a value not a number, or a summary that
        does not fit this metric)."""
        if isinstance(got, NoMatch):
            return True
        if not isinstance(got, MetricDelta):
            return False
        n = len(self.metric.by)
        nb = len(self.metric.buckets) + 1
        if any(len(k) != n for k in got.adds) or any(
            len(k) != n or len(c) != nb for k, (c, _) in got.hists.items()
        ):
            return False
        self._merge(got.adds, {}, got.hists)
        return True

    def reads(self, source: str) -> bool:
        return not self.sources or source in self.sources

    # --- finding lines ------------------------------------------------------------------------

    def _hits(self, batch: LogLines) -> Iterator[tuple[int, re.Match[str] | None]]:
        """(line index, match) of each line the regex matches (every line without a regex)."""
        text, match = batch.text, self.match
        if match is None:
            yield from ((i, None) for i in range(len(batch)))
            return
        if text is None:  # a line holds a newline: line by line
            lit = self.literal
            for i, line in enumerate(batch.lines):
                if lit is None or lit in line:
                    m = match.search(line)
                    if m is not None:
                        yield i, m
            return
        if self.scan is not None:
            search, idx, last, pos = self.scan.search, 0, 0, 0
            while True:
                m = search(text, pos)
                if m is None:
                    return
                start = m.start()
                idx += text.count(SEP, last, start)
                last = start
                yield idx, m
                nxt = text.find(SEP, start)
                if nxt < 0:
                    return
                idx += 1
                last = pos = nxt + 1
        lit, lines = self.literal, batch.lines
        if lit is None:
            for i, line in enumerate(lines):
                m = match.search(line)
                if m is not None:
                    yield i, m
            return
        idx, last = 0, 0
        pos = text.find(lit)
        while pos >= 0:
            idx += text.count(SEP, last, pos)
            m = match.search(lines[idx])
            if m is not None:
                yield idx, m
            nxt = text.find(SEP, pos)
            if nxt < 0:
                return
            idx += 1
            last = nxt + 1
            pos = text.find(lit, last)

    # --- observing ----------------------------------------------------------------------------

    def observe(self, batch: LogLines, found: dict[Any, Any] | None = None) -> None:
        """Add the batch's matching lines to the series. `found`: the findall results of the
        batch's text by regex, shared by the metrics of one regex within the batch."""
        text = batch.text
        if self.bulk is not None and text is not None:
            assert self.spec is not None
            shared = found if found is not None else {}
            if self.apply(summarize_metric(self.spec, text, shared)):
                return
        kind, field, fg = self.metric.type, self.field, self.field_in_groups
        exclude, where, by = self.exclude, self.where, self.by
        one = by[0] if len(by) == 1 and by[0][1] else None  # the one label: a regex group
        adds: dict[LabelValues, float] = {}
        values: dict[LabelValues, list[float]] = {}
        for idx, m in self._hits(batch):
            if exclude is not None and exclude.search(batch.lines[idx]) is not None:
                continue
            if where and not all(_test(mt, _lookup(mt.name, g, m, batch, idx)) for mt, g in where):
                continue
            if not by:
                key: LabelValues = ()
            elif one is not None and m is not None:
                key = (m.group(one[0]) or "",)
            else:
                key = tuple([_lookup(b, g, m, batch, idx) for b, g in by])
            if field is None:
                adds[key] = adds.get(key, 0.0) + 1.0
                continue
            v = number(_lookup(field, fg, m, batch, idx))
            if v is None:
                continue  # no number in this line: nothing to observe
            if kind == "counter":
                if v >= 0:
                    adds[key] = adds.get(key, 0.0) + v
            elif kind == "gauge":
                adds[key] = v  # the last value
            else:
                values.setdefault(key, []).append(v)
        if adds or values:
            self._merge(adds, values)

    def _merge(
        self,
        adds: dict[LabelValues, float],
        values: dict[LabelValues, list[float]],
        hists: dict[LabelValues, tuple[tuple[int, ...], float]] | None = None,
    ) -> None:
        series, gauge = self.series, self.metric.type == "gauge"
        for key, v in adds.items():
            old = series.get(key, 0.0)
            series[key] = v if gauge or isinstance(old, Hist) else old + v
            series.move_to_end(key)
        buckets = tuple(self.metric.buckets)
        observed = {k: bucketed(vs, buckets) for k, vs in values.items()}
        for key, (counts, total) in (*observed.items(), *(hists or {}).items()):
            prev = series.get(key)
            if isinstance(prev, Hist):
                merged = tuple(a + b for a, b in zip(prev.counts, counts, strict=True))
                series[key] = Hist(merged, prev.sum + total)
            else:
                series[key] = Hist(tuple(counts), total)
            series.move_to_end(key)
        over = len(series) - self.metric.max_series
        if over > 0:
            for _ in range(over):  # the least recently updated first
                series.popitem(last=False)
            self.evicted += over

    # --- reading ------------------------------------------------------------------------------

    def samples(self, now: float) -> Iterator[Sample]:
        """The series as samples (a histogram as its _bucket, _sum and _count series)."""
        name, names = self.metric.name, self.metric.by
        for key, v in list(self.series.items()):
            labels = dict(zip(names, key, strict=True))
            if isinstance(v, Hist):
                les = [*(_le(b) for b in self.metric.buckets), "+Inf"]
                for le, c in zip(les, v.cumulative(), strict=True):
                    yield Sample(now, "", f"{name}_bucket", {**labels, "le": le}, float(c))
                yield Sample(now, "", f"{name}_sum", labels, v.sum)
                yield Sample(now, "", f"{name}_count", labels, float(v.n))
            else:
                yield Sample(now, "", name, labels, v)

    def dump(self) -> dict[str, Any]:
        return {
            "type": self.metric.type,
            "by": list(self.metric.by),
            "buckets": list(self.metric.buckets),
            "evicted": self.evicted,
            "series": [
                [list(k), [list(v.counts), v.sum] if isinstance(v, Hist) else v]
                for k, v in self.series.items()
            ],
        }

    def load(self, d: Mapping[str, Any]) -> None:
        """Take back series dumped by an equal definition (type, labels, buckets)."""
        m = self.metric
        if (d.get("type"), d.get("by"), d.get("buckets")) != (
            m.type,
            list(m.by),
            list(m.buckets),
        ):
            return
        self.evicted = int(d.get("evicted", 0))
        for k, v in d.get("series", []):
            key = tuple(str(x) for x in k)
            if len(key) != len(m.by):
                continue
            if m.type == "histogram":
                counts, total = v
                if len(counts) == len(m.buckets) + 1:
                    self.series[key] = Hist(tuple(int(c) for c in counts), float(total))
            else:
                self.series[key] = float(v)
        self._merge({}, {})  # (past a lowered max_series)


def _count_together(states: Sequence[MetricState]) -> None:
    """The metrics counting one regex's lines by labels count them once by all their labels
    (`MetricSpec.count_by`: the union of their `by`, in order of first mention)."""
    wide: dict[tuple[str, int], list[int]] = {}
    counting = [s for s in states if s.spec is not None and s.spec.field is None and s.spec.by]
    for s in counting:
        assert s.spec is not None
        at = wide.setdefault((s.spec.pattern.pattern, s.spec.pattern.flags), [])
        at.extend(i for i in s.spec.by if i not in at)
    for s in counting:
        assert s.spec is not None
        s.spec = replace(s.spec, count_by=tuple(wide[s.spec.pattern.pattern, s.spec.pattern.flags]))


class BatchPass:
    """One batch's log-derived metrics, for rules/scan.feed: `specs` (the metrics' bulk
    passes, which an offload may run beside the rules'), and the call that adds the batch
    (given those passes' summaries, or None: every metric reads the batch here)."""

    def __init__(self, metrics: LogMetrics, batch: LogLines, specs: tuple[MetricSpec, ...]) -> None:
        self.metrics = metrics
        self.batch = batch
        self.specs = specs

    def __call__(self, summaries: Sequence[AnySummary] | None = None) -> None:
        self.metrics.observe(self.batch, summaries)


def _le(b: float) -> str:
    """A bucket bound as Prometheus writes it (Go's float text: 1 as 1, 0.5 as 0.5)."""
    return repr(float(b)) if not float(b).is_integer() else f"{b:.1f}"


class LogMetrics:
    """Every log-derived metric of a rule set."""

    def __init__(self, metrics: Sequence[LogMetric]) -> None:
        self.states = [MetricState(m) for m in metrics]
        self._by_source: dict[str, tuple[MetricState, ...]] = {}
        _count_together(self.states)

    def __bool__(self) -> bool:
        return bool(self.states)

    def _states(self, source: str) -> tuple[MetricState, ...]:
        states = self._by_source.get(source)
        if states is None:
            states = tuple(s for s in self.states if s.reads(source))
            self._by_source[source] = states
        return states

    def pass_for(self, batch: LogLines) -> BatchPass:
        """The batch's pass, for rules/scan.feed: its bulk passes may run in the scan helper."""
        states = self._states(batch.source)
        bulk = tuple(s for s in states if s.spec is not None)
        return BatchPass(self, batch, tuple(s.spec for s in bulk if s.spec is not None))

    def observe(self, batch: LogLines, summaries: Sequence[AnySummary] | None = None) -> None:
        """One source's batch: each metric reading that source adds its lines; a metric
        that raises keeps the error (`last_error`) and stops no other. `summaries`: the
        results of the batch's bulk passes (`pass_for(batch).specs`, in order) run elsewhere;
        a metric whose summary does not fit reads the batch here."""
        states = self._states(batch.source)
        got: dict[int, AnySummary] = {}
        if summaries is not None:
            bulk = [s for s in states if s.spec is not None]
            if len(bulk) == len(summaries):
                got = {id(s): x for s, x in zip(bulk, summaries, strict=True)}
        # findall results by regex (values by regex and field): one scan for the metrics of
        # the same regex (the usual: one line shape, several metrics)
        found: dict[Any, Any] = {}
        for s in states:
            try:
                x = got.get(id(s))
                if x is not None and s.apply(x):
                    continue
                s.observe(batch, found)
            except Exception as e:
                s.last_error = f"{type(e).__name__}: {e}"

    def samples(self, now: float) -> list[Sample]:
        return [x for s in self.states for x in s.samples(now)]

    def value(self, name: str, labels: Mapping[str, str]) -> float | None:
        """The value of one series (a histogram's by its _bucket/_sum/_count name), or None."""
        for x in self.samples(0.0):
            if x.name == name and dict(x.labels) == dict(labels):
                return x.value
        return None

    def dump(self) -> dict[str, Any]:
        return {s.metric.name: s.dump() for s in self.states if s.series or s.evicted}

    def load(self, data: Mapping[str, Any]) -> None:
        for s in self.states:
            d = data.get(s.metric.name)
            if isinstance(d, Mapping):
                try:
                    s.load(d)
                except (TypeError, ValueError):  # a damaged entry: start this metric empty
                    s.series.clear()
