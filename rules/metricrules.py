"""A metric rule at run time: recent samples per series, aggregated over time per series,
then (with `by`) combined per key, evaluated at the group's interval as Prometheus does.

Windows are left-open, (now - over, now], as in Prometheus 3. Samples arrive at scrape
intervals, so a series keeps its few samples of the span as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerter.core.events import is_stale
from alerter.rules.alert import Transition
from alerter.rules.model import Rule
from alerter.rules.state import AlertTable, Key
from alerter.rules.valuewindows import quantile

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class Series:
    __slots__ = ("labels", "seen", "ts", "vs")

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.ts: list[float] = []
        self.vs: list[float] = []
        self.seen = 0.0

    def prune(self, start: float) -> None:
        ts = self.ts
        k = 0
        while k < len(ts) and ts[k] <= start:
            k += 1
        if k:
            del ts[:k]
            del self.vs[:k]


def increase(vs: list[float]) -> float:
    """Counter increase, reset-aware: a drop means the counter restarted from 0."""
    total, prev = 0.0, vs[0]
    for v in vs[1:]:
        total += v - prev if v >= prev else v
        prev = v
    return total


def extrapolated_increase(ts: list[float], vs: list[float], start: float, end: float) -> float:
    """A counter's increase over the window (start, end], as Prometheus's `increase`
    (promql/functions.go extrapolatedRate): the increase between the first and the last
    sample, extrapolated to each edge of the window only when a sample lies within 1.1
    average intervals of it (else by half an interval, where the series likely began or
    ended), and never back past the time the counter would have been 0. Needs two samples
    at different times."""
    delta = increase(vs)
    sampled = ts[-1] - ts[0]
    average = sampled / (len(ts) - 1)
    to_start, to_end = ts[0] - start, end - ts[-1]
    if to_start >= average * 1.1:
        to_start = average / 2
    if delta > 0 and vs[0] >= 0:  # a counter is not extrapolated below zero
        to_start = min(to_start, sampled * (vs[0] / delta))
    if to_end >= average * 1.1:
        to_end = average / 2
    return delta * (sampled + to_start + to_end) / sampled


def predict(ts: list[float], vs: list[float], at: float) -> float | None:
    """Least-squares line through the samples, read at time `at` (PromQL predict_linear)."""
    n = len(ts)
    mt, mv = sum(ts) / n, sum(vs) / n
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return None
    slope = sum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True)) / var
    return mv + slope * (at - mt)


def series_value(rule: Rule, ts: list[float], vs: list[float], now: float) -> float | None:
    """The aggregate over time of one series' samples in the window (now - over, now]."""
    if not vs:
        return None
    a = rule.aggregate
    if a == "count":
        return float(len(vs))
    if a in ("rate", "increase", "ratio"):
        if len(vs) < 2 or ts[-1] == ts[0]:
            return None
        inc = extrapolated_increase(ts, vs, now - rule.over, now)
        return inc / rule.over if a == "rate" else inc  # rate = increase / over, as PromQL
    if a == "predict":
        return predict(ts, vs, ts[-1] + rule.ahead) if len(vs) >= 2 else None
    if a == "sum":
        return sum(vs)
    if a == "avg":
        return sum(vs) / len(vs)
    if a == "min":
        return min(vs)
    if a == "max":
        return max(vs)
    if a == "last":
        return vs[-1]
    if a == "quantile":
        return quantile(rule.q, sorted(vs))
    if a == "change":
        return float(sum(1 for i in range(1, len(vs)) if vs[i] != vs[i - 1]))
    return None


def combine(how: str, values: list[float]) -> float:
    if how == "sum":
        return sum(values)
    if how == "avg":
        return sum(values) / len(values)
    if how == "min":
        return min(values)
    return max(values)


class MetricRule:
    def __init__(self, rule: Rule, table: AlertTable) -> None:
        assert rule.metric is not None
        self.rule = rule
        self.table = table
        self.selector = rule.metric
        self.agg = rule.aggregate
        self.span = rule.over * (2 if self.agg == "spike" else 1)
        self.series: dict[SeriesKey, Series] = {}
        self.key_seen: dict[Key, float] = {}  # absent: key -> last sample
        self.seen_values: dict[Key, float] = {}  # new_value: key + value -> last seen
        self.fresh: dict[Key, float] = {}
        self.started = 0.0
        self.last_sample = 0.0  # absent without by: newest sample of any matching series
        self._absent_labels = {
            m.name: m.value for m in self.selector.matchers if m.op == "=" and m.name != "__name__"
        }

    def start(self, now: float) -> None:
        self.started = now

    def add(self, sk: SeriesKey, labels: Mapping[str, str], value: float, t: float) -> None:
        """A sample of the series at time `t`."""
        if is_stale(value):  # the series has no sample here (a NaN value is a sample)
            return
        s = self.series.get(sk)
        if s is None:
            s = self.series[sk] = Series(dict(labels))
        elif s.ts and t <= s.ts[-1]:  # a timestamp seen again, or out of order
            return
        s.ts.append(t)
        s.vs.append(value)
        s.seen = t
        if t > self.last_sample:
            self.last_sample = t
        key = self._key(sk, s)
        if self.agg == "absent":
            self.key_seen[key] = max(t, self.key_seen.get(key, t))
        elif self.agg == "new_value":
            assert self.rule.field is not None
            k = (*key, s.labels.get(self.rule.field, ""))
            prev = self.seen_values.pop(k, None)
            self.seen_values[k] = t
            if prev is None or t - prev >= self.rule.lookback:
                self.fresh[k] = t

    def _key(self, sk: SeriesKey, s: Series) -> Key:
        if self.rule.by:
            return tuple(s.labels.get(b, "") for b in self.rule.by)
        return tuple(f"{k}={v}" for k, v in sk[1])

    def _labels(self, key: Key) -> dict[str, str]:
        if self.rule.by:
            return dict(zip(self.rule.by, key, strict=False))
        return dict(p.split("=", 1) for p in key)

    def evaluate(self, now: float, out: list[Transition]) -> None:
        start = now - self.span
        keep = max(self.span, 300.0)
        per_key: dict[Key, list[Series]] = {}
        named: dict[Key, str] = {}  # without by: the name of the key's series in the window
        clash: tuple[Key, str, str] | None = None
        for sk, s in list(self.series.items()):
            s.prune(start)
            if not s.ts and now - s.seen > keep:
                del self.series[sk]
                continue
            key = self._key(sk, s)
            per_key.setdefault(key, []).append(s)
            if s.ts and not self.rule.by and clash is None:
                other = named.setdefault(key, sk[0])
                if other != sk[0]:
                    clash = (key, other, sk[0])
        if clash is not None and self.agg != "absent":
            # an instance is a series' labels without its name: two would be one, as
            # Prometheus refuses ("vector cannot contain metrics with the same labelset")
            key, a, b = clash
            labels = ", ".join(f'{k}="{v}"' for k, v in sorted(self._labels(key).items()))
            raise ValueError(
                f"vector cannot contain metrics with the same labelset: {{{labels}}} "
                f"(series {', '.join(sorted((a, b)))}); select one name, or add `by`"
            )
        if self.agg == "absent":
            self._absent(now, out)
        elif self.agg == "new_value":
            self._new_values(now, out)
        else:
            values = {k: self._value(ss, now) for k, ss in per_key.items()}
            for key in set(values) | set(self.table.active):
                value = values.get(key)
                active = self.table.is_active(key)
                cond = value is not None and self._holds(value, active, per_key.get(key, []), now)
                if cond or active:
                    self.table.step(key, cond, value, now, out, lambda k=key: self._labels(k))  # type: ignore[misc]

    def _holds(self, value: float, active: bool, ss: list[Series], now: float) -> bool:
        rule = self.rule
        if self.agg == "spike":
            cur, prev = self._halves(ss, now)
            if prev is None or cur is None:
                return False
            floor = rule.min_count  # (may be below 1: a gauge of fractions can spike)
            up = cur >= floor and cur >= rule.factor * prev and cur > 0
            down = prev >= floor and cur * rule.factor <= prev and prev > 0
            d = rule.direction
            return (up and d in ("up", "both")) or (down and d in ("down", "both"))
        if active and rule.resolve_threshold is not None:
            return not rule.resolve_threshold.holds(value)
        assert rule.threshold is not None
        return rule.threshold.holds(value)

    def _value(self, ss: list[Series], now: float) -> float | None:
        rule = self.rule
        a = self.agg
        if a == "distinct":
            assert rule.field is not None
            vals = {s.labels.get(rule.field, "") for s in ss if s.ts}
            return float(len(vals)) if vals else None
        if a == "ratio":
            num = den = 0.0
            for s in ss:
                inc = series_value(rule, s.ts, s.vs, now)
                if inc is None:
                    continue
                den += inc
                if all(m.matches(s.labels) for m in rule.of):
                    num += inc
            return num / den if den > 0 and den >= rule.min_events else None
        if a == "spike":
            cur, prev = self._halves(ss, now)
            if cur is None or prev is None:
                return None
            return cur / prev if prev else cur
        values = [v for v in (series_value(rule, s.ts, s.vs, now) for s in ss) if v is not None]
        if not values:
            return None
        return combine(rule.combine, values) if rule.by else values[0]

    def _halves(self, ss: list[Series], now: float) -> tuple[float | None, float | None]:
        """spike: summed per-series averages of the current and the previous window."""
        mid = now - self.rule.over
        cur: list[float] = []
        prev: list[float] = []
        for s in ss:
            c = [v for t, v in zip(s.ts, s.vs, strict=True) if t > mid]
            p = [v for t, v in zip(s.ts, s.vs, strict=True) if t <= mid]
            if c:
                cur.append(sum(c) / len(c))
            if p:
                prev.append(sum(p) / len(p))
        return (sum(cur) if cur else None), (sum(prev) if prev else None)

    def _absent(self, now: float, out: list[Transition]) -> None:
        rule = self.rule
        if not rule.by:
            silent = now - max(self.last_sample, self.started)
            self.table.step(
                (), silent >= rule.over, silent, now, out, lambda: dict(self._absent_labels)
            )
            return
        for key, seen in list(self.key_seen.items()):
            silent = now - seen
            forget = silent >= rule.forget_after
            self.table.step(
                key,
                silent >= rule.over and not forget,
                silent,
                now,
                out,
                lambda k=key: self._labels(k),  # type: ignore[misc]
            )
            if forget:
                del self.key_seen[key]

    def _new_values(self, now: float, out: list[Transition]) -> None:
        rule = self.rule
        field = rule.field or ""
        for k, first in list(self.fresh.items()):
            alive = now - first < rule.over

            def labels(k: Key = k) -> dict[str, str]:
                return {**self._labels(k[:-1]), field: k[-1]}

            self.table.step(k, alive, 1.0, now, out, labels)
            if not alive:
                del self.fresh[k]
        horizon = now - rule.lookback
        for k in [k for k, t in self.seen_values.items() if t <= horizon]:
            del self.seen_values[k]

    def dump(self) -> dict[str, Any]:
        return {
            "series": [
                [sk[0], [list(p) for p in sk[1]], s.ts, s.vs, s.seen]
                for sk, s in self.series.items()
            ],
            "key_seen": [[list(k), t] for k, t in self.key_seen.items()],
            "seen_values": [[list(k), t] for k, t in self.seen_values.items()],
            "fresh": [[list(k), t] for k, t in self.fresh.items()],
            "started": self.started,
            "last_sample": self.last_sample,
        }

    def load(self, data: Mapping[str, Any]) -> None:
        for name, pairs, ts, vs, seen in data.get("series", ()):
            sk: SeriesKey = (name, tuple((str(a), str(b)) for a, b in pairs))
            s = self.series[sk] = Series(dict(sk[1]))
            s.ts, s.vs, s.seen = [float(t) for t in ts], [float(v) for v in vs], float(seen)
        self.key_seen.update((tuple(k), float(t)) for k, t in data.get("key_seen", ()))
        self.seen_values.update((tuple(k), float(t)) for k, t in data.get("seen_values", ()))
        self.fresh.update((tuple(k), float(t)) for k, t in data.get("fresh", ()))
        self.started = float(data.get("started", self.started))
        self.last_sample = float(data.get("last_sample", self.last_sample))
