"""A log rule's windows, one per `by` key, and how they step the rule's alert table.

`KeyedWindows` holds the time side of a log rule: the window each key counts into, bucketing,
eviction past `max_keys`, `new_value`'s seen/fresh tables, the evaluation of one key against
the threshold (inline for an eager rule, so the line that crosses it fires the alert), the
group's periodic evaluation (windows expiring, `for`, `keep_firing_for`, `absent`, `new_value`
ageing, forgetting empty keys) and the snapshot. What a line contributes to which key is
decided by `alerter.rules.logrules.LogRule`, which builds on this class.

Past `max_keys` the least recently updated key is evicted in O(1): the tables are OrderedDicts
kept in order of last update (`touch_key` moves a key to the end, eviction pops the front), so
key churn costs the same per line whatever the number of keys. Evictions are counted in
`evicted` until the engine reports them (and sets it back to 0). An evicted key whose alert is
pending or firing loses its history: the alert resolves at the next evaluation (after
`keep_firing_for`), as when its window empties.

Event time (DESIGN "Event time"): the `now` the plans pass with a batch is its lines' own time,
which places them in buckets (and is an `absent` key's last sight, a `new_value`'s first
sight); evaluations, and the transitions they make, happen at the engine's clock (`clock`, set
by the engine before each batch; the periodic `evaluate` sets it too). An event older than the
rule's window at the clock is `late`: the engine does not hand it to the rule.

The periodic evaluation of a rule with a threshold, a spike or an absent rule visits only the
keys it could change (alerter.rules.sweep, alerter.rules.absentsweep); new_value rules evaluate
their own tables (`_evaluate_new_values`).
The sweep relies on every update of a key's window being followed by the key's inline
evaluation (`Sweep.touched` at the update, for a lazy rule).
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from alerter.rules.absentsweep import AbsentSweep
from alerter.rules.alert import Transition
from alerter.rules.model import Rule
from alerter.rules.rows import Rows
from alerter.rules.state import AlertTable, Key
from alerter.rules.sweep import LAZY, Sweep, sweeps
from alerter.rules.valuewindows import DistinctWindow, LastWindow, QuantileWindow, StatsWindow
from alerter.rules.windows import (
    BUCKETS,
    SPIKE_BUCKETS,
    AbsentWindow,
    ChangeWindow,
    CountWindow,
    RatioWindow,
    Window,
)

W = TypeVar("W", bound=Window)
_OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


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


class KeyedWindows:
    def __init__(self, rule: Rule, table: AlertTable) -> None:
        self.rule = rule
        self.table = table
        # count: the threshold as a C comparison on the window's running total
        th = rule.threshold
        self.cmp = _OPS[th.op] if rule.aggregate == "count" and th is not None else None
        self.bound = th.bound if th is not None else 0.0
        self.resolves = rule.resolve_threshold
        self.eager = rule.aggregate not in LAZY
        self.max_keys = rule.max_keys
        self.agg = rule.aggregate
        self.spike = self.agg == "spike"
        self.span = rule.over * (2 if self.spike else 1)
        self.width = rule.over / (SPIKE_BUCKETS if self.spike else BUCKETS)
        # how old a line may be and still count (`late`: its bucket's edge aside), as told
        self.reach = rule.lookback if self.agg == "new_value" else self.span
        self.new_window = _factory(rule)
        # each in order of last update (oldest first): the front is evicted past max_keys
        self.keys: OrderedDict[Key, Window] = OrderedDict()
        self.seen: OrderedDict[Key, float] = OrderedDict()  # new_value: key + value -> last seen
        # new_value: key + value -> first seen (alerting), oldest first
        self.fresh: OrderedDict[Key, float] = OrderedDict()
        self.started: float | None = None
        # the engine's clock (evaluations happen at it, not at line times): `clock`
        self._clock = -math.inf
        self.evicted = 0  # keys evicted past max_keys and not yet reported by the engine
        # ticks that visit only the keys they could change (alerter.rules.sweep), or None:
        # every key at every tick. The sweep is told each evaluation's outcome by
        # _evaluate_key; `swept`, the first bucket of its last tick: windows may hold buckets
        # before it
        self.sweep: Sweep | None = None
        if sweeps(rule):
            self.sweep = AbsentSweep(rule) if self.agg == "absent" else Sweep(rule)
        self.swept: float = -math.inf

    @property
    def clock(self) -> float:
        return self._clock

    @clock.setter
    def clock(self, now: float) -> None:
        """The engine's clock, set before each batch and evaluation; one whose window starts
        before the last tick's (the clock stepped back) first catches the windows up."""
        self._clock = now
        if (now - self.span) // self.width < self.swept:
            self.rewind()

    def rewind(self) -> None:
        """Expire every window to where the last tick left the ones it visited: the full
        evaluation expired them all then, so a line added now at an older bucket (the clock
        stepped back) is kept as it keeps it."""
        swept = int(self.swept)
        for w in self.keys.values():
            w.expire(swept)
        self.swept = -math.inf

    def full_ticks(self) -> None:
        """Evaluate every key at every tick (the sweep's reference in tests)."""
        self.sweep = None

    def start(self, now: float) -> None:
        self.started = now
        if self.agg == "absent" and not self.rule.by and () not in self.keys:
            w = self.keys[()] = AbsentWindow(now)
            if self.sweep is not None:
                self.sweep.touched((), w)  # (the next tick files it)

    def late(self, t: float, clock: float) -> bool:
        """Whether an event at time `t` counts for nothing at `clock`: its bucket has left the
        window (absent: it is `over` old; new_value: older than `lookback`, as one between
        `over` and `lookback` old is only remembered as seen, it fires nothing)."""
        agg = self.agg
        if agg == "absent":
            return clock - t >= self.rule.over
        if agg == "new_value":
            return clock - t >= self.rule.lookback
        return t // self.width < (clock - self.span) // self.width

    def bucket(self, now: float) -> int:
        return int(now // self.width)

    def first_bucket(self, now: float) -> int:
        """The oldest bucket still in the window at the clock (at `now` while the engine has
        set none): lines of a later time (a writer's clock ahead) do not expire older ones."""
        at = now if self._clock == -math.inf else self._clock
        return int((at - self.span) // self.width)

    def touch_key(self, key: Key) -> Window:
        """The key's window, made now (`insert_key`) or moved to the end of `keys` (evicted
        last)."""
        w = self.keys.get(key)
        if w is None:
            return self.insert_key(key, self.new_window())
        self.keys.move_to_end(key)
        return w

    def insert_key(self, key: Key, w: W) -> W:
        """`w` as the new key's window, the least recently updated key evicted past
        `max_keys`."""
        keys = self.keys
        keys[key] = w
        if len(keys) > self.max_keys:
            self._evict()
        return w

    def _evict(self) -> None:
        """The least recently updated key out (a key was just added past max_keys)."""
        key, w = self.keys.popitem(last=False)
        self.evicted += 1
        if self.sweep is not None:
            self.sweep.dropped(key, w, key in self.table.active)

    def _trim(self, table: OrderedDict[Key, Any]) -> None:
        """Evict from the front of `table` down to max_keys."""
        while len(table) > self.max_keys:
            table.popitem(last=False)
            self.evicted += 1

    def _new_value(
        self, key: Key, value: str, line: str, now: float, out: list[Transition]
    ) -> None:
        k = (*key, value)
        seen = self.seen
        prev = seen.get(k)
        if prev is None:
            seen[k] = now
            if len(seen) > self.max_keys:
                seen.popitem(last=False)
                self.evicted += 1
        else:
            if now > prev:  # a line whose time steps back is not a later sight
                seen[k] = now
                seen.move_to_end(k)  # the table stays ordered by last sight
            if now - prev < self.rule.lookback:
                return
        clock = now if self._clock == -math.inf else self._clock
        if clock - now >= self.rule.over:
            return  # seen long ago: remembered, but its alert would already be over
        fresh = self.fresh
        fresh[k] = now
        fresh.move_to_end(k)
        if len(fresh) > self.max_keys:  # its alert resolves at the next evaluation
            fresh.popitem(last=False)
            self.evicted += 1
        self.table.step(k, True, 1.0, clock, out, lambda: self._labels(k, True), (line,))

    # --- periodic ---------------------------------------------------------------------------

    def evaluate(self, now: float, out: list[Transition]) -> None:
        self.clock = now
        if self.agg == "new_value":
            self._evaluate_new_values(now, out)
            return
        sweep = self.sweep
        if sweep is not None and sweep.follows(self, now):
            sweep.tick(self, now, out)
            return
        self.evaluate_all(now, out)
        if sweep is not None:  # (the first tick, or the first after a restore)
            sweep.rebuild(self, now)

    def evaluate_all(self, now: float, out: list[Transition]) -> None:
        """Evaluate every key at the clock (`now`)."""
        keys = self.keys
        gone = []
        # absent keys (with by) are forgotten after forget_after of silence
        forget_before = (
            now - self.rule.forget_after if self.agg == "absent" and self.rule.by else None
        )
        for key, w in keys.items():
            self._evaluate_key(key, w, now, out)
            if (w.empty() and not self.table.is_active(key)) or (
                forget_before is not None and (w.value() or 0.0) <= forget_before
            ):
                gone.append(key)
        for key in gone:
            del keys[key]
        # alerts whose key was evicted or forgotten: their condition no longer holds
        for key in [k for k in self.table.active if k not in keys]:
            self.table.step(key, False, None, now, out, dict)

    def _evaluate_new_values(self, now: float, out: list[Transition]) -> None:
        fresh = self.fresh
        for k, first in list(fresh.items()):
            alive = now - first < self.rule.over
            self.table.step(k, alive, 1.0, now, out, lambda k=k: self._labels(k, True))  # type: ignore[misc]
            if not alive:
                del fresh[k]
        # alerts whose value was evicted from `fresh` (or not restored): resolved
        for k in [k for k in self.table.active if k not in fresh]:
            self.table.step(k, False, None, now, out, dict)
        # `seen` is ordered by last sight: what left the lookback is at the front
        horizon = now - self.rule.lookback
        seen = self.seen
        while seen:
            k, t = next(iter(seen.items()))
            if t > horizon:
                break
            del seen[k]

    def _evaluate_key(
        self, key: Key, w: Window, now: float, out: list[Transition], inline: bool = True
    ) -> None:
        """Evaluate one key at the clock (`now`, the time of the lines just added or of the
        evaluation, only while the engine has set no clock); `inline`: after an update of its
        window (not a tick's evaluation, which moves no key in the sweep's order)."""
        if self._clock != -math.inf:
            now = self._clock
        w.expire(int((now - self.span) // self.width))
        cmp = self.cmp
        sweep = self.sweep
        if inline and sweep is not None and not sweep.quiet:
            sweep.touched(key, w)
        if cmp is not None:  # a count: decided inline in its two common cases
            inst = self.table.active.get(key)
            holds = cmp(w.total, self.bound)  # type: ignore[attr-defined]
            if inst is None and not holds:
                return  # below its threshold
            if inst is not None and holds and inst.state == "firing" and self.resolves is None:
                self.table.still_firing(inst, float(w.total), w.kept())  # type: ignore[attr-defined]
                if sweep is not None and inline:
                    sweep.seen(key, w)
                return
        active = self.table.active
        value, cond = self._condition(w, now, key in active)
        if cond or key in active:
            self.table.step(key, cond, value, now, out, lambda: self._labels(key), w.kept())
            if sweep is not None:
                inst = active.get(key)
                if inst is not None:
                    sweep.stepped(key, w, inst, self.rule, inline)
                else:
                    sweep.ended(key, w, inline)

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
        cur = w.count_since(self.middle(now))
        prev = w.total - cur
        value = cur / prev if prev else float(cur)
        floor = max(rule.min_count, 1.0)
        up = cur >= floor and cur >= rule.factor * prev
        down = prev >= floor and cur * rule.factor <= prev
        d = rule.direction
        return value, (up and d in ("up", "both")) or (down and d in ("down", "both"))

    def middle(self, now: float) -> int:
        """spike: the first bucket of the current half of its span at `now`."""
        return int((now - self.rule.over) // self.width)

    def _labels(self, key: Key, with_field: bool = False) -> dict[str, str]:
        labels = dict(zip(self.rule.by, key, strict=False))
        if with_field and self.rule.field:
            labels[self.rule.field] = key[-1]
        return labels

    # --- snapshot -----------------------------------------------------------------------------

    def dump(self, lazy: bool = False) -> dict[str, Any]:
        """The windows and new_value tables; `lazy`: each table as Rows (alerter.rules.rows),
        its items made when read, in pieces, instead of one list of them all."""
        keys, seen, fresh = self.keys, self.seen, self.fresh

        def windows() -> Iterator[list[Any]]:
            # a window the sweep did not visit at the last tick may still hold older buckets
            swept = int(self.swept) if self.swept != -math.inf else None
            for k, w in keys.items():
                if swept is not None:
                    w.expire(swept)
                yield [list(k), w.dump()]

        def seen_items() -> Iterator[list[Any]]:
            return ([list(k), t] for k, t in seen.items())

        def fresh_items() -> Iterator[list[Any]]:
            return ([list(k), t] for k, t in fresh.items())

        tables = {"keys": windows, "seen": seen_items, "fresh": fresh_items}
        out: dict[str, Any] = {
            name: Rows(make) if lazy else list(make()) for name, make in tables.items()
        }
        out["started"] = self.started
        return out

    def adopt(self, old: KeyedWindows) -> None:
        """For a reload: the key tables of `old`, this rule's instance in the engine being
        replaced (`Rule.keeps_windows_of`), taken as they are, with its clock's marks. What
        `load(old.dump())` gives, without a copy of every key: at 1M keys that copy (dump, then
        load) was half of a reload. The sweep's filing comes too when the thresholds are the
        same; else this rule's first tick evaluates every key and files them anew, as after a
        restore (a lowered threshold may now hold for keys the old sweep would not visit).
        `old` gets this instance's empty tables."""
        self.keys, old.keys = old.keys, self.keys
        self.seen, old.seen = old.seen, self.seen
        self.fresh, old.fresh = old.fresh, self.fresh
        self.started, self.swept, self.evicted = old.started, old.swept, old.evicted
        old.evicted = 0
        same = (self.rule.threshold, self.rule.resolve_threshold) == (
            old.rule.threshold,
            old.rule.resolve_threshold,
        )
        if same and self.sweep is not None and old.sweep is not None:
            self.sweep, old.sweep = old.sweep, self.sweep
            # (`for` and keep_firing_for may have changed)
            active = self.table.active
            self.sweep.retime(((k, i) for k, i in active.items() if k in self.keys), self.rule)

    def load(self, data: Mapping[str, Any]) -> None:
        """Take back what `dump` saved, in the same order (the next key evicted is the same);
        a table past a lowered max_keys loses its oldest keys, counted as evicted."""
        keys = self.keys
        for k, d in data.get("keys", ()):
            w = self.new_window()
            w.load(d)
            key = tuple(k)
            keys[key] = w
            keys.move_to_end(key)
        self.seen.update((tuple(k), float(t)) for k, t in data.get("seen", ()))
        self.fresh.update((tuple(k), float(t)) for k, t in data.get("fresh", ()))
        for table in (self.keys, self.seen, self.fresh):
            self._trim(table)
        if self.sweep is not None:
            self.sweep.ready = False  # the restored keys: evaluated in full, then filed
        if data.get("started") is not None:
            self.started = float(data["started"])
