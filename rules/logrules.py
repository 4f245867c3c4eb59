"""A log rule at run time: select events, keep a window per `by` key, step the alert table.

`observe` runs for every line that passed the rule's literal pre-filter; it evaluates the key
the event belongs to at once, so the line that crosses the threshold fires the alert in its own
processing. `evaluate` (the group's periodic evaluation) handles time: windows expiring, `for`,
`keep_firing_for`, `absent`, `new_value` ageing, and forgets empty keys.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

from rules.alert import Transition
from rules.matchers import Matcher
from rules.model import Rule
from rules.prefilter import (
    batch_pattern,
    bounded_pattern,
    line_confined,
    line_pattern,
    match_shape,
    rare_chars,
)
from rules.state import AlertTable, Key
from rules.windows import (
    BUCKETS,
    EXAMPLES,
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
# what observe() extracts from an event, by aggregate
_COUNT, _NUMERIC, _TEXT, _RATIO, _ABSENT, _NEW_VALUE = range(6)
_KINDS = {"sum": _NUMERIC, "avg": _NUMERIC, "min": _NUMERIC, "max": _NUMERIC, "last": _NUMERIC,
          "quantile": _NUMERIC, "distinct": _TEXT, "change": _TEXT, "ratio": _RATIO,
          "absent": _ABSENT, "new_value": _NEW_VALUE}
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
        "==": operator.eq, "!=": operator.ne}
# evaluated at the group interval only: each evaluation reads the whole window
_LAZY = ("quantile", "spike")
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


def _lookup(name: str, in_groups: bool, m: re.Match[str] | None,
            events: Sequence[LogEventLike], idx: int) -> str:
    """A label value: the regex group of that name, else the parsed field of events[idx]
    (built only now: a collector's batch builds events on access), else ''."""
    if in_groups and m is not None:
        v = m.group(name)
        if v is not None:
            return v
    ev = events[idx]
    v = ev.fields.get(name)
    if v is not None:
        return v
    return ev.source if name == "source" else ""


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
        self.batch_match = batch_pattern(sel.match) if sel.match is not None else None
        self.match = sel.match
        self.exclude = sel.exclude
        groups = sel.match.groupindex if sel.match is not None else {}
        self.where = tuple((mt, mt.name in groups) for mt in sel.where)
        self.of = tuple((mt, mt.name in groups) for mt in rule.of)
        self.by = tuple((b, b in groups) for b in rule.by)
        self.field_name = rule.field or ""
        self.field_in_groups = self.field_name in groups
        self.kind = _KINDS.get(rule.aggregate, _COUNT)
        self.ratio = self.kind == _RATIO
        self.by_group = rule.by[0] if len(rule.by) == 1 and rule.by[0] in groups else ""
        # count: the threshold as a C comparison on the window's running total
        th = rule.threshold
        self.cmp = _OPS[th.op] if rule.aggregate == "count" and th is not None else None
        self.bound = th.bound if th is not None else 0.0
        self.eager = rule.aggregate not in _LAZY
        self.max_keys = rule.max_keys
        # a threshold a batch of events can only cross upwards (counts only grow within one)
        th_up = rule.threshold is not None and rule.threshold.op in (">", ">=")
        # one key and nothing to filter after the match: the engine hands over whole batches
        # (a ratio or spike is judged on the batch as a whole)
        self.bulk = (not rule.by and not sel.where and sel.exclude is None
                     and (rule.aggregate in ("ratio", "spike")
                          or (rule.aggregate in ("count", "rate") and th_up)))
        # the pattern confined to one line (`[^"]` as `[^\n"]`: the same matches in a line),
        # as a batch pattern: a search over the joined batch finds each line's matches
        one_line = line_confined(sel.match) if sel.match is not None else None
        one_batch = batch_pattern(one_line) if one_line is not None else None
        # a bulk rule whose lines can be counted by one finditer over the batch: `of` (ratio)
        # reads only regex groups, so no event needs to be built
        self.line_match: re.Pattern[str] | None = None
        if self.bulk and all(g for _, g in self.of):
            batch = one_batch or self.batch_match
            self.line_match = line_pattern(batch) if batch is not None else None
        self._of_cache: dict[tuple[str, ...], bool] = {}
        # ...and when no match can span two lines, counted without a Python step per line
        self.count_in_c = self.line_match is not None and one_batch is not None
        self.of_groups = tuple((mt, groups[mt.name] - 1) for mt, _ in self.of) \
            if self.count_in_c else ()
        # rules counting the same places (patterns that differ only in their groups) share
        # one findall per batch
        self.shape = match_shape(one_line) if self.count_in_c and one_line is not None \
            else None
        # quantile of a regex group, one key, nothing to filter, evaluated only at ticks: a
        # batch's values come from one findall (`value_index`: the field's place in its tuples)
        self.values_match = (
            line_pattern(one_batch)
            if rule.aggregate == "quantile" and self.field_in_groups and not rule.by
            and not sel.where and sel.exclude is None and one_batch is not None else None
        )
        self.value_index = groups[self.field_name] - 1 if self.values_match is not None else 0
        # count, rate or distinct keyed by regex groups only, nothing to filter, a threshold
        # the batch can only cross upwards: the engine gathers a batch's matches per key and
        # updates and evaluates each key once
        self.keyed = (
            (rule.aggregate in ("count", "rate")
             or (rule.aggregate == "distinct" and self.field_in_groups))
            and th_up and bool(rule.by) and not sel.where and sel.exclude is None
            and sel.match is not None and all(g for _, g in self.by)
        )
        self.key_groups = tuple(groups[b] for b in rule.by) if self.keyed else ()
        self.value_group = groups[self.field_name] if self.keyed and self.kind == _TEXT else 0
        # a match's key (a group's value, or a tuple of them), and key + distinct's value
        self.key_of: Callable[[re.Match[str]], Any] = (
            itemgetter(*self.key_groups) if self.keyed else itemgetter(0))
        self.pair_of: Callable[[re.Match[str]], Any] = (
            itemgetter(*self.key_groups, self.value_group) if self.value_group else itemgetter(0))
        # ...with one finditer over the batch when its pattern starts with a literal
        self.keyed_match = line_pattern(one_batch) if self.keyed and one_batch is not None \
            else None
        # ...or else each line holding the literal is searched in place
        self.bounded = bounded_pattern(sel.match) if self.keyed and sel.match is not None \
            else None
        self.literal_rx = re.compile(re.escape(self.literal)) \
            if self.literal is not None and "\n" not in self.literal else None
        # a batch lacking one of these characters cannot hold the literal (a C memchr)
        self.rare = rare_chars(self.literal) if self.literal is not None else ""
        # absent over every line of a source: the engine calls touch() once per batch
        self.touches = (rule.aggregate == "absent" and sel.match is None and not sel.where
                        and sel.exclude is None and rule.by in ((), ("source",)))
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

    def start(self, now: float) -> None:
        self.started = now
        if self.agg == "absent" and not self.rule.by and () not in self.keys:
            self.keys[()] = AbsentWindow(now)

    # --- per event ------------------------------------------------------------------------

    def bucket(self, now: float) -> int:
        return int(now // self.width)

    def observe(self, events: Sequence[LogEventLike], idx: int, line: str, now: float,
                bucket: int,
                out: list[Transition], m: re.Match[str] | None = None) -> None:
        """events[idx] (its line: `line`) passed the pre-filter; `bucket` is
        `self.bucket(now)`; `m` the match when the caller already searched."""
        if m is None and self.match is not None:
            m = self.match.search(line)
            if m is None:
                return
        if self.exclude is not None and self.exclude.search(line) is not None:
            return
        for mt, in_groups in self.where:
            if not _test(mt, _lookup(mt.name, in_groups, m, events, idx)):
                return
        by = self.by
        if not by:
            key: Key = ()
        elif len(by) == 1:
            key = ((m.group(self.by_group) if m is not None and self.by_group else None)
                   or _lookup(by[0][0], by[0][1], m, events, idx),)
        else:
            key = tuple([_lookup(b, g, m, events, idx) for b, g in by])
        kind = self.kind
        x: Any = None
        if kind == _NUMERIC:
            try:
                x = float(_lookup(self.field_name, self.field_in_groups, m, events, idx))
            except ValueError:
                return  # not a number: the event does not count
        elif kind == _TEXT:
            x = _lookup(self.field_name, self.field_in_groups, m, events, idx)
        elif kind == _RATIO:
            x = True
            for mt, g in self.of:
                if not _test(mt, _lookup(mt.name, g, m, events, idx)):
                    x = False
                    break
        elif kind == _ABSENT:
            x = now
        elif kind == _NEW_VALUE:
            self._new_value(key, _lookup(self.field_name, self.field_in_groups, m, events, idx), line,
                            now, out)
            return
        keys = self.keys
        w = keys.get(key)
        if w is None:
            w = keys[key] = self.new_window()
            if len(keys) > self.max_keys:
                self._evict()
        w.add(bucket, x)
        ex = w.ex
        w.ex = (*ex[1:], line) if len(ex) >= EXAMPLES else (*ex, line)
        if self.eager:
            self._evaluate_key(key, w, now, out)

    def of_ok(self, events: Sequence[LogEventLike], idx: int, line: str,
              m: re.Match[str] | None) -> bool:
        """ratio: does a selected event also match `of`?"""
        if m is None and self.match is not None:
            m = self.match.search(line)
        for mt, g in self.of:  # noqa: SIM110 - a loop, not all(genexpr): no allocation per line
            if not _test(mt, _lookup(mt.name, g, m, events, idx)):
                return False
        return True

    def of_ok_groups(self, m: re.Match[str]) -> bool:
        """ratio, when every `of` matcher reads a regex group: cached per group values."""
        key = tuple([m.group(mt.name) or "" for mt, _ in self.of])
        ok = self._of_cache.get(key)
        if ok is None:
            if len(self._of_cache) > 4096:
                self._of_cache.clear()
            ok = self._of_cache[key] = all(_test(mt, v) for (mt, _), v in
                                           zip(self.of, key, strict=True))
        return ok

    def of_ok_found(self, found: str | tuple[str, ...]) -> bool:
        """ratio: `of` against one findall() result (a group, or a tuple of all groups)."""
        if isinstance(found, str):
            found = (found,)
        return all(_test(mt, found[i]) for mt, i in self.of_groups)

    def observe_counts(self, n: int, hits: int, examples: list[str], now: float, bucket: int,
                       out: list[Transition]) -> None:
        """A batch's matching lines at once, for a `bulk` rule (one key, nothing
        to filter): n lines matched, `hits` of them also matched `of` (ratio)."""
        keys = self.keys
        w = keys.get(())
        if w is None:
            w = keys[()] = self.new_window()
        if self.kind == _COUNT:
            w.add(bucket, None, n)  # type: ignore[call-arg]  # a CountWindow
        else:
            w.add_counts(bucket, n, hits)  # type: ignore[attr-defined]  # a RatioWindow
        w.examples(examples)
        if self.eager:
            self._evaluate_key((), w, now, out)

    def observe_values(self, xs: list[float], examples: list[str], now: float,
                       out: list[Transition]) -> None:
        """A batch's values of a `values_match` rule (one key), in order."""
        w = self.keys.get(())
        if w is None:
            w = self.keys[()] = self.new_window()
        w.add_many(self.bucket(now), xs)  # type: ignore[attr-defined]  # a QuantileWindow
        w.examples(examples)
        if self.eager:
            self._evaluate_key((), w, now, out)

    def observe_keys(self, counts: Mapping[Any, int], single: bool,
                     values: Mapping[Any, list[str]] | None, examples: Mapping[Any, list[str]],
                     now: float, out: list[Transition]) -> None:
        """A batch's matches of a `keyed` rule, gathered per key (a group's value when
        `single`, else a tuple of them): how many, distinct's values, the last lines (newest
        first). Each key is updated and evaluated once."""
        keys, get, new = self.keys, self.keys.get, self.new_window
        bucket, first = self.bucket(now), self.first_bucket(now)
        active, cmp, bound, max_keys = self.table.active, self.cmp, self.bound, self.max_keys
        for k, n in counts.items():
            key = (k,) if single else k
            ex = examples[k]
            if len(ex) > 1:
                ex.reverse()
            w = get(key)
            if w is None:
                w = keys[key] = new()
                if len(keys) > max_keys:
                    self._evict()
                w.ex = tuple(ex)
            else:
                w.examples(ex)
            if values is None:
                w.add(bucket, None, n)  # type: ignore[call-arg]  # a CountWindow
            else:
                for x in values[k]:
                    w.add(bucket, x)
            if w.b[0] < first:  # type: ignore[attr-defined]  # a Count or DistinctWindow
                w.expire(first)
            if cmp is not None and key not in active and not cmp(w.total, bound):  # type: ignore[attr-defined]
                continue  # a count below its threshold, decided inline
            self._evaluate_key(key, w, now, out)

    def first_bucket(self, now: float) -> int:
        """The oldest bucket still in the window at `now`."""
        return int((now - self.span) // self.width)

    def touch(self, source: str, lines: list[str], now: float, out: list[Transition]) -> None:
        """`absent` over every line of a source: only the batch's last lines matter."""
        key = (source,) if self.by else ()
        w = self.keys.get(key)
        if w is None:
            w = self.keys[key] = AbsentWindow(now)
        w.add(0, now)
        w.examples(lines[-EXAMPLES:])
        if self.table.active:
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
        if self.keyed:
            # a count (or distinct) only falls while no events come, so an inactive key cannot
            # start firing at a tick: only forget it once its newest bucket has left the window
            first = int((now - self.span) // self.width)
            active = self.table.active
            for key, w in keys.items():
                if key in active:
                    self._evaluate_key(key, w, now, out)
                    if w.empty() and key not in active:
                        gone.append(key)
                elif w.b[-2] < first:  # type: ignore[attr-defined]  # Count/DistinctWindow
                    gone.append(key)
        # absent keys (with by) are forgotten after forget_after of silence
        forget_before = now - self.rule.forget_after if self.agg == "absent" and self.rule.by \
            else None
        for key, w in () if self.keyed else keys.items():
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
        active = key in self.table.active
        if self.cmp is not None and not active and not self.cmp(w.total, self.bound):  # type: ignore[attr-defined]
            return  # the common case of a count below its threshold, decided inline
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
