"""The batch-wide pass of a log-derived metric, as a pure function of plain values.

A metric that reads nothing but its regex's groups (rules/logmetrics.py) needs nothing from a
batch but its text: one `findall` of its regex widened to the rest of the line (the first match
of each line), the counting done in C. `summarize_metric` turns a `MetricSpec` and the text
into a `MetricDelta` (per label set: what to add, or a histogram's bucket counts and sum), so the
same pass runs in-process or in the scan helper (alerter/runtime/scanworker.py) beside the
rules' bulk passes, sharing findall results with the rules and metrics of the same regex; the
metric merges the delta into its series either way. `Unjudged`: a value is not a finite number
(or a counter's is negative): the metric reads that batch line by line instead.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from alerter.rules.bulk import NO_MATCH, BulkSpec, NoMatch, Summary, Unjudged, summarize

LabelValues = tuple[str, ...]
NOT_NUMBER = Unjudged("a value is not a finite number (or a counter's is negative)")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    kind: str  # counter, gauge, histogram
    pattern: re.Pattern[str]  # takes the rest of each line: one match per line
    by: tuple[int, ...]  # each label's place in findall's tuples
    field: int | None  # the value's place in findall's tuples (None: lines counted)
    buckets: tuple[float, ...]  # histogram
    # counting lines by labels: the places of every label counted by the metrics of this
    # regex (counted once a batch, each metric's counts summed from them; () or `by`: its own)
    count_by: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """A batch's change to a metric's series, per label set in order of first appearance:
    values to add (a gauge's: the value to set), and a histogram's per-bucket counts (the
    last: +Inf) and sum."""

    adds: dict[LabelValues, float]
    hists: dict[LabelValues, tuple[tuple[int, ...], float]]


MetricSummary = MetricDelta | NoMatch | Unjudged


def _column(spec: MetricSpec, found: list[Any], at: int) -> Iterable[str]:
    """One group's text in each findall result."""
    if spec.pattern.groups == 1:
        return found
    return map(itemgetter(at), found)


def _keys(spec: MetricSpec, found: list[Any]) -> Iterable[LabelValues]:
    if not spec.by:
        return [()] * len(found)
    if spec.pattern.groups == 1:
        return zip(found)
    get = itemgetter(*spec.by)
    return map(get, found) if len(spec.by) > 1 else zip(map(get, found))


def _counts(spec: MetricSpec, found: list[Any], shared: dict[object, Any]) -> dict[Any, int]:
    """Matches per label set, in order of first appearance. The metrics counting one regex's
    lines by different labels count its matches once by all their labels (`count_by`), each
    summing those counts by its own, unless that holds about as many label sets as lines."""
    wide = spec.count_by
    if len(wide) < 2 or spec.pattern.groups == 1:
        return Counter(_keys(spec, found))
    key = ("counts", spec.pattern.pattern, spec.pattern.flags, wide)
    base: Counter[Any] | None = shared.get(key)
    if base is None:
        base = shared[key] = Counter(map(itemgetter(*wide), found))
    if len(base) * 4 > len(found):  # (label sets nearly as many as lines: count directly)
        return Counter(_keys(spec, found))
    if spec.by == wide:
        return base
    at = [wide.index(i) for i in spec.by]
    out: dict[LabelValues, int] = {}
    for k, n in base.items():
        kk = tuple([k[i] for i in at])
        out[kk] = out.get(kk, 0) + n
    return out


def number(text: str) -> float | None:
    """A finite float read from `text`, or None (a gauge or histogram value)."""
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _numbers(
    spec: MetricSpec, found: list[Any], shared: dict[object, Any]
) -> tuple[list[float], float, float] | None:
    """The field's values, their sum and least (None: one is not a finite number), converted
    once a batch for the metrics of one regex and field."""
    assert spec.field is not None
    key = ("numbers", spec.pattern.pattern, spec.pattern.flags, spec.field)
    if key in shared:
        got: tuple[list[float], float, float] | None = shared[key]
        return got
    try:
        vals = list(map(float, _column(spec, found, spec.field)))
        total = math.fsum(vals)
    except (ValueError, OverflowError):
        vals, total = [], math.nan
    out = (vals, total, min(vals)) if vals and math.isfinite(total) else None
    shared[key] = out
    return out


def findall(pattern: re.Pattern[str], text: str, shared: dict[object, Any]) -> list[Any]:
    """The pattern's findall over the text, once a batch (keyed as the rules' bulk passes key
    theirs, so a rule and a metric of the same regex share it)."""
    key = (pattern.pattern, pattern.flags)
    found: list[Any] | None = shared.get(key)
    if found is None:
        found = shared[key] = pattern.findall(text)
    return found


def summarize_metric(spec: MetricSpec, text: str, shared: dict[object, Any]) -> MetricSummary:
    """The metric's pass over a batch's text (lines joined by newlines, none holding one)."""
    found = findall(spec.pattern, text, shared)
    if not found:
        return NO_MATCH
    kind, field = spec.kind, spec.field
    adds: dict[LabelValues, float] = {}
    values: dict[LabelValues, list[float]] = {}
    if field is None:
        if not spec.by:
            adds[()] = float(len(found))
        else:
            adds = {k: float(n) for k, n in _counts(spec, found, shared).items()}
        return MetricDelta(adds, {})
    if kind == "gauge" and not spec.by:  # the last value alone, when a number
        last = number(found[-1] if isinstance(found[-1], str) else found[-1][field])
        if last is not None:
            return MetricDelta({(): last}, {})
    nums = _numbers(spec, found, shared)
    if nums is None or (kind == "counter" and nums[2] < 0):
        return NOT_NUMBER
    vals, total, _ = nums
    if not spec.by:
        if kind == "counter":
            adds[()] = total
        elif kind == "gauge":
            adds[()] = vals[-1]
        else:
            values[()] = vals
    elif kind == "gauge":
        adds = dict(zip(_keys(spec, found), vals, strict=True))  # the last of each key
    else:
        for key, v in zip(_keys(spec, found), vals, strict=True):
            values.setdefault(key, []).append(v)
        if kind == "counter":
            adds = {k: math.fsum(vs) for k, vs in values.items()}
            values = {}
    return MetricDelta(adds, {k: bucketed(vs, spec.buckets) for k, vs in values.items()})


def bucketed(vs: list[float], buckets: tuple[float, ...]) -> tuple[tuple[int, ...], float]:
    """Observations per bucket (values <= each bound, not cumulative; the last +Inf), sum."""
    ordered = sorted(vs)
    edges = [bisect.bisect_right(ordered, b) for b in buckets]
    counts = [b - a for a, b in zip([0, *edges], [*edges, len(ordered)], strict=True)]
    return tuple(counts), math.fsum(vs)


Spec = BulkSpec | MetricSpec  # a pass the scan helper runs: a rule's or a metric's
AnySummary = Summary | MetricDelta


def run_pass(spec: Spec, text: str, shared: dict[object, Any]) -> AnySummary:
    """A rule's or a metric's bulk pass over a batch's text; `shared` holds the batch's
    findall results, shared by the passes of one regex."""
    if isinstance(spec, MetricSpec):
        return summarize_metric(spec, text, shared)
    return summarize(spec, text, shared)
