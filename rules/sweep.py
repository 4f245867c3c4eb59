"""The periodic evaluation of a log rule that visits only the keys it could change.

Evaluating every key at every tick (`KeyedWindows.evaluate_all`) costs O(keys) per tick: tens
of thousands of addresses that each failed a login once, evaluated every interval until their
window empties. For the rules `sweeps(rule)` accepts, a tick visits only:

- the keys whose alert is active (pending, firing, kept firing): evaluated as before, in the
  order the full evaluation visits them (the order of `KeyedWindows.keys`, last updated last,
  which `order` tracks for these keys: see below);
- the keys whose window's newest bucket has left the window: forgotten, as the full evaluation
  forgets a key whose window emptied and whose alert is not active.

Why no other key can change (the rules it is used for are those where this holds):
- a key's window is only ever updated followed by that key's inline evaluation (eager
  aggregates: `LogRule.observe`, `observe_counts`, `observe_keys`; a count below its threshold
  is decided inline the same way). So a key whose alert is not active had a false condition at
  its last evaluation, and since then its window has only lost buckets, at the clock (an alert
  resolved by a `resolve_threshold` had a false condition only if the two thresholds exclude
  each other, as `< 1` and `>= 5` do: with others every key is evaluated);
- losing buckets never raises a count, a rate, a number of distinct values or of changes: under
  `>` or `>=` a false condition stays false. `last` keeps its value, or has none (false) once its
  bucket has gone: any threshold. Such a key makes no transition until a line updates it.
- The other aggregates are evaluated key by key: sum and avg (a lost bucket moves them either
  way), min and max (a NaN value read from a line makes them non-monotone), ratio, those
  under `<`, `<=`, `==`, `!=` (a falling count crosses them), quantile and spike (evaluated at
  ticks only), absent (time alone fires it); new_value has its own tables.

Which windows empty at a tick, without looking at every key: each key is filed (its window's
`due`) under the newest bucket its window had when filed; a line never makes a window's newest
bucket older, and expiry removes it only with all the others, so at a tick the keys filed under
a bucket before the window's first one include every window that emptied. Each is expired:
gone if empty, filed again under its newest bucket otherwise. Keys made since the last tick are
at the end of `keys` (an OrderedDict in order of last update) with a `due` of None: the tick
files them, walking back from the end until it has found as many as `keys` has unfiled ones.

Expiry is deferred: a key that is not visited keeps its buckets older than the window until
its next evaluation, which expires first, at a clock at least as late (`swept` is the first
bucket of the last tick: a clock whose window starts before it, a clock stepped back, first
expires every window to it, `KeyedWindows.rewind`), or until the snapshot, which expires each
window to `swept` as it is written. So what is evaluated, written or forgotten is what the full
evaluation gives; the tests compare the two over random rules, lines and ticks.

The order of the active keys: the full evaluation visits keys in the order of `keys`, last
updated last, and so emits a tick's transitions in that order. Every update of a key whose alert
is active (or becomes so) is followed by its inline evaluation, which moves the key to the end of
`order` too: among the active keys, `order` and `keys` agree. (Should `order` lack an active
key, that tick takes them from `keys`.) A restored rule is evaluated in full once, which files
every key anew.

Memory: a slot per window (`due`) and an entry in a list per key.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

from alerter.rules.model import Rule, Threshold
from alerter.rules.state import Key
from alerter.rules.windows import Window

if TYPE_CHECKING:
    from alerter.rules.alert import Transition
    from alerter.rules.keyedwindows import KeyedWindows

PARKED = -math.inf  # `due` of an active key whose window is empty: looked at at each tick
_MONOTONE = ("count", "rate", "distinct", "change")  # values that only fall as buckets leave


def sweeps(rule: Rule) -> bool:
    """Whether the rule's ticks may visit only its active keys and its emptied windows."""
    th, resolve = rule.threshold, rule.resolve_threshold
    if th is None:
        return False
    if resolve is not None and not _excludes(resolve, th):
        return False  # an alert resolved while its threshold holds fires again at a tick
    return rule.aggregate == "last" or (rule.aggregate in _MONOTONE and th.op in (">", ">="))


def _excludes(resolve: Threshold, th: Threshold) -> bool:
    """Whether no value satisfies both (`< 1` and `>= 5`): an alert resolved at an evaluation
    had its threshold false there."""
    if th.op not in (">", ">=") or resolve.op not in ("<", "<="):
        return False
    if resolve.op == "<=" and th.op == ">=":
        return resolve.bound < th.bound
    return resolve.bound <= th.bound


class Sweep:
    """The filing of one rule's keys by newest bucket, and its ticks."""

    def __init__(self, rule: Rule) -> None:
        # change's windows are never empty (the last value is kept): nothing to file
        self.files = rule.aggregate != "change"
        self.cal: dict[int, tuple[int, list[Key]]] = {}  # newest bucket -> (it, keys filed)
        self.filed = 0  # keys of the table filed (their window's `due` set)
        self.parked: dict[Key, None] = {}  # keys whose window's `due` is PARKED
        # keys whose alert was active at an evaluation, in the order they were last evaluated
        self.order: dict[Key, None] = {}
        self.ready = False  # False: the next tick evaluates every key and files them anew

    def tick(self, kw: KeyedWindows, now: float, out: list[Transition]) -> None:
        """Evaluate the rule at `now` (the rule's clock), as `evaluate_all` would."""
        keys, active = kw.keys, kw.table.active
        first = int((now - kw.span) // kw.width)
        if first < kw.swept:
            kw.rewind()
        if self.files:
            self._file_new(keys)
            self._sweep(keys, active, first)
        self._evaluate_active(kw, now, out)
        kw.swept = first
        # alerts whose key was evicted or forgotten: their condition no longer holds
        for key in [k for k in active if k not in keys]:
            kw.table.step(key, False, None, now, out, dict)

    def rebuild(self, kw: KeyedWindows, first: int) -> None:
        """File every key after a full evaluation at the window starting at bucket `first`."""
        self.cal, self.parked = {}, {}
        if self.files:
            for key, w in kw.keys.items():
                self._file(key, w)
            self.filed = len(kw.keys)
        active = kw.table.active
        self.order.clear()
        self.order.update((k, None) for k in kw.keys if k in active)
        kw.swept = first
        self.ready = True

    def dropped(self, w: Window) -> None:
        """A window left the table elsewhere (evicted)."""
        if getattr(w, "due", None) is not None:
            self.filed -= 1

    # --- a tick's parts ---------------------------------------------------------------------

    def _file(self, key: Key, w: Window) -> None:
        nb = w.newest()
        if nb is None:  # (only an active key keeps an empty window)
            w.due = PARKED
            self.parked[key] = None
            return
        entry = self.cal.get(nb)
        if entry is None:
            entry = self.cal[nb] = (nb, [])
        entry[1].append(key)
        w.due = entry[0]  # one int object per bucket, not per key

    def _file_new(self, keys: OrderedDict[Key, Window]) -> None:
        """File the keys made since the last tick: the unfiled ones, at the end of `keys`."""
        missing = len(keys) - self.filed
        if missing < 0:  # (keys removed behind the sweep's back): file them all anew
            self.cal, self.parked = {}, {}
            for key, w in keys.items():
                self._file(key, w)
            self.filed = len(keys)
            return
        if missing:
            for key, w in reversed(keys.items()):
                if getattr(w, "due", None) is None:
                    self._file(key, w)
                    self.filed += 1
                    missing -= 1
                    if not missing:
                        return
            self.filed = len(keys)  # (walked them all: every key is filed)

    def _sweep(
        self, keys: OrderedDict[Key, Window], active: Mapping[Key, object], first: int
    ) -> None:
        """Expire the windows filed before `first` (and the parked ones whose alert is over):
        forget the emptied ones, file the others under their newest bucket. Active keys are
        left to `_evaluate_active`."""
        parked, self.parked = self.parked, {}
        for key in parked:
            w = keys.get(key)
            if w is not None and w.due == PARKED:
                if key in active:
                    self.parked[key] = None  # (filed again after its evaluation)
                else:
                    self._settle(keys, key, w, first)
        for b in [b for b in self.cal if b < first]:
            _, filed = self.cal.pop(b)
            for key in filed:
                w = keys.get(key)
                if w is not None and w.due == b and key not in active:
                    self._settle(keys, key, w, first)

    def _settle(self, keys: OrderedDict[Key, Window], key: Key, w: Window, first: int) -> None:
        w.expire(first)
        if w.empty():
            del keys[key]
            self.filed -= 1
        else:
            self._file(key, w)

    def _evaluate_active(self, kw: KeyedWindows, now: float, out: list[Transition]) -> None:
        keys, active, order = kw.keys, kw.table.active, self.order
        todo = [k for k in order if k in active and k in keys]
        if len(todo) != sum(1 for k in active if k in keys):  # (an active key order lacks)
            todo = [k for k in keys if k in active]
        files = self.files
        for key in todo:
            w = keys[key]
            kw._evaluate_key(key, w, now, out)  # (moves the key to the end of `order`)
            if not files:
                continue
            if w.empty():
                if key not in active:
                    del keys[key]
                    self.filed -= 1
                elif w.due != PARKED:
                    w.due = PARKED
                    self.parked[key] = None
            elif w.due != w.newest():
                self._file(key, w)
        for k in [k for k in order if k not in active]:
            del order[k]
