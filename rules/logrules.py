"""A log rule at run time: select events, keep a window per `by` key, step the alert table.

`observe` runs for every line that passed the rule's literal pre-filter; it evaluates the key
the event belongs to at once, so the line that crosses the threshold fires the alert in its own
processing. `evaluate` (the group's periodic evaluation) handles time: windows expiring, `for`,
`keep_firing_for`, `absent`, `new_value` ageing, and forgets empty keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from rules.alert import Transition
from rules.matchers import Matcher
from rules.model import Rule
from rules.state import AlertTable, Key
from rules.windows import (
    BUCKETS,
    AbsentWindow,
    ChangeWindow,
    CountWindow,
    DistinctWindow,
    LastWindow,
    QuantileWindow,
    RatioWindow,
    StatsWindow,
    Window,
)

SPIKE_BUCKETS = 60  # per half of a spike's span
EvictHook = Callable[[str, int], None]


class LogEventLike(Protocol):
    """What the engine reads of a log event (collectors.events.LogEvent has it)."""

    @property
    def time(self) -> float: ...
    @property
    def source(self) -> str: ...
    @property
    def line(self) -> str: ...
    @property
    def fields(self) -> Mapping[str, str]: ...


def _factory(rule: Rule) -> Callable[[], Window]:
    a = rule.aggregate
    if a in ("count", "rate", "spike"):
        return CountWindow
    if a in ("sum", "avg", "min", "max"):
        return lambda: StatsWindow(a)
    if a == "last":
        return LastWindow
    if a == "quantile":
        return lambda: QuantileWindow(rule.q)
    if a == "distinct":
        return DistinctWindow
    if a == "ratio":
        return lambda: RatioWindow(rule.min_events)
    if a == "change":
        return ChangeWindow
    return AbsentWindow  # absent (new_value keeps its own tables)


def _lookup(name: str, in_groups: bool, m: re.Match[str] | None, fields: Mapping[str, str],
            source: str) -> str:
    """A label value: the regex group of that name, else the parsed field, else ''."""
    if in_groups and m is not None:
        v = m.group(name)
        if v is not None:
            return v
    v = fields.get(name)
    if v is not None:
        return v
    return source if name == "source" else ""


def _test(matcher: Matcher, v: str) -> bool:
    op = matcher.op
    if op == "=":
        return v == matcher.value
    if op == "!=":
        return v != matcher.value
    assert matcher.regex is not None
    hit = matcher.regex.match(v) is not None
    return hit if op == "=~" else not hit


class LogRule:
    def __init__(self, rule: Rule, table: AlertTable, on_evict: EvictHook) -> None:
        assert rule.logs is not None
        sel = rule.logs
        self.rule = rule
        self.table = table
        self.sources = frozenset(sel.sources)
        self.literal = sel.literal
        self.match = sel.match
        self.exclude = sel.exclude
        groups = sel.match.groupindex if sel.match is not None else {}
        self.where = tuple((mt, mt.name in groups) for mt in sel.where)
        self.of = tuple((mt, mt.name in groups) for mt in rule.of)
        self.by = tuple((b, b in groups) for b in rule.by)
        self.field = (rule.field, rule.field in groups) if rule.field else None
        self.agg = rule.aggregate
        self.spike = self.agg == "spike"
        self.span = rule.over * (2 if self.spike else 1)
        self.width = rule.over / (SPIKE_BUCKETS if self.spike else BUCKETS)
        self.new_window = _factory(rule)
        self.keys: dict[Key, Window] = {}
        self.seen: dict[Key, float] = {}  # new_value: key + value -> last seen
        self.fresh: dict[Key, float] = {}  # new_value: key + value -> first seen (alerting)
        self.started: float | None = None
        self._on_evict = on_evict
        self._numeric = self.agg in ("sum", "avg", "min", "max", "last", "quantile")

    def start(self, now: float) -> None:
        self.started = now
        if self.agg == "absent" and not self.rule.by and () not in self.keys:
            self.keys[()] = AbsentWindow(now)

    # --- per event ------------------------------------------------------------------------

    def observe(self, line: str, fields: Mapping[str, str], source: str, now: float,
                out: list[Transition]) -> None:
        m = None
        if self.match is not None:
            m = self.match.search(line)
            if m is None:
                return
        if self.exclude is not None and self.exclude.search(line) is not None:
            return
        for mt, in_groups in self.where:
            if not _test(mt, _lookup(mt.name, in_groups, m, fields, source)):
                return
        key = tuple([_lookup(b, g, m, fields, source) for b, g in self.by])
        x: Any = None
        if self.field is not None:
            x = _lookup(self.field[0], self.field[1], m, fields, source)
            if self._numeric:
                try:
                    x = float(x)
                except ValueError:
                    return  # not a number: the event does not count
        elif self.agg == "ratio":
            x = all(_test(mt, _lookup(mt.name, g, m, fields, source)) for mt, g in self.of)
        elif self.agg == "absent":
            x = now
        if self.agg == "new_value":
            self._new_value(key, x, line, now, out)
            return
        w = self.keys.get(key)
        if w is None:
            w = self.keys[key] = self.new_window()
            if len(self.keys) > self.rule.max_keys:
                self._evict()
        w.add(int(now // self.width), x)
        w.example(line)
        self._evaluate_key(key, w, now, out)

    def _evict(self) -> None:
        oldest = next(iter(self.keys))
        del self.keys[oldest]
        self._on_evict(self.rule.alert, 1)

    def _new_value(self, key: Key, value: str, line: str, now: float,
                   out: list[Transition]) -> None:
        k = (*key, value)
        prev = self.seen.pop(k, None)  # pop + set: the dict stays ordered by last sight
        self.seen[k] = now
        if len(self.seen) > self.rule.max_keys:
            del self.seen[next(iter(self.seen))]
            self._on_evict(self.rule.alert, 1)
        if prev is not None and now - prev < self.rule.lookback:
            return
        self.fresh[k] = now
        self.table.step(k, True, 1.0, now, out, lambda: self._labels(k, with_field=True), (line,))

    # --- periodic ---------------------------------------------------------------------------

    def evaluate(self, now: float, out: list[Transition]) -> None:
        if self.agg == "new_value":
            self._evaluate_new_values(now, out)
            return
        keys = self.keys
        gone = []
        # absent keys (with by) are forgotten after forget_after of silence
        forget_before = now - self.rule.forget_after if self.agg == "absent" and self.rule.by \
            else None
        for key, w in keys.items():
            self._evaluate_key(key, w, now, out)
            if (w.empty() and not self.table.is_active(key)) or (
                    forget_before is not None and (w.value() or 0.0) <= forget_before):
                gone.append(key)
        for key in gone:
            del keys[key]
        # alerts whose key was evicted or forgotten: their condition no longer holds
        for key in [k for k in self.table.active if k not in keys]:
            self.table.step(key, False, None, now, out, dict)

    def _evaluate_new_values(self, now: float, out: list[Transition]) -> None:
        for k, first in list(self.fresh.items()):
            alive = now - first < self.rule.over
            self.table.step(k, alive, 1.0, now, out, lambda k=k: self._labels(k, True))  # type: ignore[misc]
            if not alive:
                del self.fresh[k]
        horizon = now - self.rule.lookback
        for k in [k for k, t in self.seen.items() if t <= horizon]:
            del self.seen[k]

    def _evaluate_key(self, key: Key, w: Window, now: float, out: list[Transition]) -> None:
        w.expire(int((now - self.span) // self.width))
        active = self.table.is_active(key)
        value, cond = self._condition(w, now, active)
        if cond or active:
            self.table.step(key, cond, value, now, out, lambda: self._labels(key), w.ex)

    def _condition(self, w: Window, now: float, active: bool) -> tuple[float | None, bool]:
        rule = self.rule
        agg = self.agg
        if agg == "absent":
            silent = now - (w.value() or 0.0)  # absent windows hold the time last seen
            return silent, silent >= rule.over
        if self.spike:
            return self._spike(w, now)  # type: ignore[arg-type]
        value = w.value()
        if value is None:
            return None, False
        if agg == "rate":
            value /= rule.over
        if active and rule.resolve_threshold is not None:
            return value, not rule.resolve_threshold.holds(value)
        assert rule.threshold is not None
        return value, rule.threshold.holds(value)

    def _spike(self, w: CountWindow, now: float) -> tuple[float | None, bool]:
        rule = self.rule
        if self.started is None or now - self.started < self.span:
            return None, False  # the previous window has not been observed yet
        cur = w.count_since(int((now - rule.over) // self.width))
        prev = w.total - cur
        value = cur / prev if prev else float(cur)
        floor = max(rule.min_count, 1.0)
        up = cur >= floor and cur >= rule.factor * prev
        down = prev >= floor and cur * rule.factor <= prev
        d = rule.direction
        return value, (up and d in ("up", "both")) or (down and d in ("down", "both"))

    def _labels(self, key: Key, with_field: bool = False) -> dict[str, str]:
        labels = dict(zip(self.rule.by, key, strict=False))
        if with_field and self.rule.field:
            labels[self.rule.field] = key[-1]
        return labels

    # --- snapshot -----------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "keys": [[list(k), w.dump()] for k, w in self.keys.items()],
            "seen": [[list(k), t] for k, t in self.seen.items()],
            "fresh": [[list(k), t] for k, t in self.fresh.items()],
            "started": self.started,
        }

    def load(self, data: Mapping[str, Any]) -> None:
        for k, d in data.get("keys", ()):
            w = self.new_window()
            w.load(d)
            self.keys[tuple(k)] = w
        self.seen.update((tuple(k), float(t)) for k, t in data.get("seen", ()))
        self.fresh.update((tuple(k), float(t)) for k, t in data.get("fresh", ()))
        if data.get("started") is not None:
            self.started = float(data["started"])
