"""The periodic evaluation of an `absent` log rule that visits only the keys it could change.

An absent key's window is the time it was last seen (`AbsentWindow.seen`, which a line only
ever raises). Its evaluation at the clock `now` fires it once `now - seen >= over`, and a rule
with `by` forgets it (`KeyedWindows.evaluate_all`) once `seen <= now - forget_after`: the
clock alone does both, at times known in advance. A tick visits, instead of every key:

- the inactive keys whose time came: each is filed in a heap at the earlier of seen + `over`
  and seen + forget_after (`times`), taken a little early (EARLY);
- the keys a line updated since the last tick (numbered after it, `Sweep.touched`: the end of
  `keys`, new keys among them);
- every active key: its alert's value is its silence, which the clock moves at every tick (the
  full evaluation writes it into the alert at each), and a clock set back can end it;
and then the alerts of evicted or forgotten keys until they end (`Sweep.step_missing`).

Why no other key can change. A key not visited is inactive and was not updated since the last
tick. Its alert changes only at its evaluations, and its last one left it inactive: its
condition was false then (a key whose condition holds is stepped, and made active). Every
inactive key is filed (at its last tick's evaluation, or at `rebuild`) and stays filed until
its time is taken; a filing may be early, never late, since `seen` only grows (a line that
leaves a key inactive numbers it: the next tick files it again). So its time, seen + `over`
or + forget_after, is after now + EARLY: `now - seen < over`, the condition is still false
(no step: no transition, the alert's value untouched), and it is not forgotten. Its window
does not change with the clock (`expire` does nothing). A clock set back only makes a silence
shorter: still false, still kept. The keys visited are evaluated in the order of their numbers,
which is the order of `keys` (every move to its end numbers the key), so the transitions come
in the full evaluation's order, and the same keys are forgotten.

A tick's cost: the keys updated, the keys whose time came, the active alerts; an idle key costs
nothing until its time. Memory: an entry in the heap per inactive key (a key refiled later
leaves its entry, which is passed over: the heap is compacted when it has grown to twice the
keys); no timers (`for` and keep_firing_for are read as every active key is visited).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import TYPE_CHECKING

from alerter.rules.model import Rule
from alerter.rules.state import Instance, Key
from alerter.rules.sweep import EARLY, Sweep
from alerter.rules.windows import Window

if TYPE_CHECKING:
    from alerter.rules.alert import Transition
    from alerter.rules.keyedwindows import KeyedWindows


class AbsentSweep(Sweep):
    """The filing of an absent rule's inactive keys by the time the clock changes them."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        # how long after its last sight an inactive key's evaluation may change
        self.after = min(rule.over, rule.forget_after) if rule.by else rule.over
        self.forget = rule.forget_after if rule.by else None
        self.times: list[tuple[float, Key]] = []  # (when, key), the window's `due` when live

    def tick(self, kw: KeyedWindows, now: float, out: list[Transition]) -> None:
        """Evaluate the rule at `now` (the rule's clock), as `evaluate_all` would."""
        keys, active = kw.keys, kw.table.active
        due = self._updated(keys)
        for key in active:
            if key in keys:
                due[key] = None
        times, limit = self.times, now + EARLY
        while times and times[0][0] <= limit:
            t, key = heapq.heappop(times)
            w = keys.get(key)
            if w is not None and w.due == t:
                w.due = None
                due[key] = None
        forget_before = now - self.forget if self.forget is not None else None
        for key in sorted(due, key=lambda k: getattr(keys[k], "seq", 0)):
            w = keys[key]
            kw._evaluate_key(key, w, now, out, inline=False)
            if forget_before is not None and (w.value() or 0.0) <= forget_before:
                del keys[key]  # (as the full evaluation forgets it)
                if key in active:
                    self.missing[key] = None
            elif key not in active:
                self._file_at_time(keys, key, w)
        self.mark = next(self.numbers)
        self.step_missing(kw, now, out)

    def rebuild(self, kw: KeyedWindows, now: float) -> None:
        """Number every key in the order of `keys` and file the inactive ones, after a full
        evaluation."""
        keys, active = kw.keys, kw.table.active
        self.times = []
        for key, w in keys.items():
            w.seq = next(self.numbers)
            w.due = None
            if key not in active:
                self._file_at_time(keys, key, w)
        self.missing = {k: None for k in active if k not in keys}
        self.mark = next(self.numbers)
        self.ready = True

    def touched(self, key: Key, w: Window) -> None:
        """A line updated the key's window: the next number (the next tick visits it)."""
        w.seq = next(self.numbers)

    def _time(self, key: Key, inst: Instance, rule: Rule) -> None:
        pass  # (no timers: every active key is visited at every tick)

    def _file_at_time(self, keys: OrderedDict[Key, Window], key: Key, w: Window) -> None:
        """File an inactive key at its last sight + `after` (kept where it is when filed no
        later: `seen` only grows)."""
        t = w.seen + self.after  # type: ignore[attr-defined]  # an AbsentWindow
        d = w.due
        if d is not None and d <= t:
            return
        w.due = t
        times = self.times
        heapq.heappush(times, (t, key))
        if len(times) > 2 * len(keys) + 64:  # (entries of keys refiled or gone)
            self.times = [(v.due, k) for k, v in keys.items() if v.due is not None]
            heapq.heapify(self.times)
