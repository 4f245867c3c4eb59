"""The periodic evaluation of a log rule that visits only the keys it could change.

Evaluating every key at every tick (`KeyedWindows.evaluate_all`) costs O(keys) per tick: tens
of thousands of addresses that each failed a login once, evaluated every interval until their
window empties, and as many alerts after a storm of them, evaluated every interval until they
resolve. For the rules `sweeps(rule)` accepts (every log rule with a threshold, and spike;
absent's ticks: alerter.rules.absentsweep), a tick visits only the keys whose evaluation could
differ from the last one:

- a key one of whose buckets has left the window (its value may have moved); spike, or has
  crossed the middle of its span (below);
- a key whose alert's `for` or keep_firing_for ended, or whose key was evicted;
- lazy rules (quantile, spike: evaluated at ticks only), a key a line updated since the last
  tick;
and `quiet` rules only the first kind for their active keys (below).

Why no other key can change. A key's evaluation reads its window's value, which follows its
buckets alone; whether its alert is active (which threshold is read: `threshold`, or
`resolve_threshold` once active); and, for an active alert, the clock against its `for` and
keep_firing_for. Between two evaluations of a key, its window changes only
- by a line: every update of a key's window is followed by the key's inline evaluation
  (eager aggregates: `LogRule.observe`, `observe_counts`, `observe_keys`; a count below its
  threshold is decided inline the same way, and told to the sweep, `touched`), or, lazy ones,
  told to the sweep (`touched`), which numbers it: the tick looks at every key numbered since
  the last tick;
- by the clock: a bucket leaves the window, the oldest first. Each key is filed under its
  window's oldest bucket and looked at at the first tick whose window starts after it.
And the alert's state changes only at its evaluations. So a key not visited would be
evaluated to the value, threshold and state it was last evaluated to, and its alert step to
what it is (its state, value and examples), the timers and evictions aside.

Quiet rules (`quiet(rule)`: `last`, and count, rate, distinct, change under `>` or `>=`, whose
`resolve_threshold` if any excludes the threshold) visit fewer: only the active keys filed
under their oldest bucket, the inactive ones under their newest (forgotten when it leaves, as
the full evaluation forgets a key whose window emptied). A key whose alert is not active had a
false condition at its last evaluation (an alert resolved by a `resolve_threshold` only if the
two thresholds exclude each other, as `< 1` and `>= 5` do), and since then its window has only
lost buckets; losing buckets never raises a count, a rate, a number of distinct values or of
changes: under `>` or `>=` a false condition stays false. `last` keeps its value, or has none
(false) once its bucket has gone: any threshold. The others move either way as a bucket leaves
(sum, avg, ratio; min and max with a NaN value read from a line; a falling count under `<`,
`<=`, `==`, `!=`): every key of theirs is filed under its oldest bucket.

Spike. Its value reads the window's buckets and which of them are in the current half of the
span (from the middle, `KeyedWindows.middle`, on) and which in the previous one: it moves when a
bucket leaves the window, and when one crosses the middle, the oldest of the current half
first. A key is filed under its oldest bucket, or when earlier under the oldest bucket of its
current half less SPIKE_BUCKETS (`_oldest`, at the tick's middle), and the tick takes off the
calendar the buckets before the later of the window's first bucket and the middle less
SPIKE_BUCKETS: a bucket c crosses at the first tick whose middle is after c, and is looked at
then (or one bucket early where the two bounds round apart: the middle is the first bucket
plus SPIKE_BUCKETS in exact arithmetic). A line numbers its key (lazy): the next tick
evaluates it and files it anew, whatever bucket it added. The condition also reads the start: no key holds
until a span after it. So a tick before it, the first tick after it, and a tick whose middle
is before the last tick's (the clock set back: buckets cross back; a reload keeps the sweep
and ticks anew) evaluate every key and file them anew (`follows`).

Evaluated key by key at every tick: new_value (its own tables,
`KeyedWindows._evaluate_new_values`).

The calendar: each key is filed (its window's `due`) under a bucket. Filing may be early,
never late: a line never makes a window's newest bucket older, and when a line makes its
oldest older (a line of an older time) its inline evaluation files an active key again, and
`touched` any key of a rule not quiet; expiry only moves both later, and the oldest is never
after the newest, so a key whose alert ends stays filed early enough. An early look costs an
evaluation that changes nothing, or a window expired and filed again. Keys made since the last
tick are at the end of `keys` (an OrderedDict in order of last update) with a `due` of None:
the tick files them, walking back from the end until it has found as many as `keys` has
unfiled ones (lazy: they are among the keys updated since, which it evaluates and files). A key
whose window is empty and is not forgotten (an active one; change's, which keeps its last
value) is PARKED: only its timer, its eviction or a line can change it. A key the tick takes
off the calendar to evaluate is TAKEN until the tick files it again (so a look early files it
even where it was).

Timers: a pending alert is due at active_at + `for`, a kept one at keep_since +
keep_firing_for (at once when a reload took keep_firing_for away): a heap, whose entries are
taken a little early (EARLY: the sum may round the other way from the state machine's
difference). An evicted key's alert is stepped at each tick until it ends (`missing`).

Order: the full evaluation visits keys in the order of `keys`, last updated last, and so emits
a tick's transitions in that order. Every update of an active key's window (of any key's, in a
rule not quiet) numbers the window (`seq`), and a tick numbers none: a tick evaluates its due
keys in the order of their numbers. (A quiet rule's inactive key never steps at a tick.)

Expiry is deferred: a key that is not visited keeps its buckets older than the window until
its next evaluation, which expires first, at a clock at least as late (`swept` is the first
bucket of the last tick: a clock whose window starts before it, a clock stepped back, first
expires every window to it, `KeyedWindows.rewind`), or until the snapshot, which expires each
window to `swept` as it is written. So what is evaluated, written or forgotten is what the full
evaluation gives; the tests compare the two over random rules, lines and ticks. A restored
rule is evaluated in full once, which files every key anew.

Memory: two slots per window (`due`, `seq`) and an entry in a list per key; a timer per
pending or kept alert.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from alerter.rules.model import Rule, Threshold
from alerter.rules.state import Instance, Key
from alerter.rules.windows import SPIKE_BUCKETS, Window

if TYPE_CHECKING:
    from alerter.rules.alert import Transition
    from alerter.rules.keyedwindows import KeyedWindows

PARKED = math.inf  # `due` of a key kept with an empty window: no bucket to leave
TAKEN = -math.inf  # `due` of a key the tick took off the calendar, until it files it again
SOON = -(2**62)  # a bucket before every window: looked at at the next tick
EARLY = 1e-3  # seconds: a timer this close to the tick's clock is due at it
_MONOTONE = ("count", "rate", "distinct", "change")  # values that only fall as buckets leave
LAZY = ("quantile", "spike")  # evaluated at ticks only: each evaluation reads the whole window


def sweeps(rule: Rule) -> bool:
    """Whether the rule's ticks use the calendar (else every key is evaluated at every tick;
    absent's: alerter.rules.absentsweep)."""
    if rule.aggregate in ("spike", "absent"):
        return True
    return rule.threshold is not None and rule.aggregate != "new_value"


def quiet(rule: Rule) -> bool:
    """Whether an inactive key's condition stays false as its buckets leave: its ticks visit
    only the active keys and the emptied windows (else every key whose value can move)."""
    th, resolve = rule.threshold, rule.resolve_threshold
    if th is None or rule.aggregate in LAZY:
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
    """The filing of one rule's keys, the timers of its active alerts, and its ticks."""

    def __init__(self, rule: Rule) -> None:
        self.quiet = quiet(rule)  # else every key is filed under its oldest bucket
        self.lazy = rule.aggregate in LAZY  # its keys updated since the last tick are looked at
        # change's windows are never empty (the last value is kept): only its active keys are
        # filed when quiet
        self.files = not self.quiet or rule.aggregate != "change"
        self.cal: dict[int, tuple[int, list[Key]]] = {}  # bucket -> (it, keys filed)
        self.filed = 0  # keys of the table filed (their window's `due` set)
        self.numbers = itertools.count(1)  # the windows' `seq`
        self.timers: list[tuple[float, Key]] = []  # (when, key): `for` and keep_firing_for ends
        self.timer_of: dict[Key, float] = {}  # key -> its entry in `timers` (lazily cleaned)
        self.missing: dict[Key, None] = {}  # active keys evicted from the table
        self.ready = False  # False: the next tick evaluates every key and files them anew
        self.mark = 0  # lazy: the last number before the last tick (keys numbered later: updated)
        self.spike = rule.aggregate == "spike"
        self.mid = 0  # spike: the first bucket of the current half of the span at the last tick

    def tick(self, kw: KeyedWindows, now: float, out: list[Transition]) -> None:
        """Evaluate the rule at `now` (the rule's clock), as `evaluate_all` would."""
        keys, active = kw.keys, kw.table.active
        first = int((now - kw.span) // kw.width)
        if first < kw.swept:
            kw.rewind()
        limit = first  # the calendar's buckets before it are due
        if self.spike:
            self.mid = kw.middle(now)
            limit = max(first, self.mid - SPIKE_BUCKETS)
        if self.lazy:
            due = self._updated(keys)
            due.update(self._sweep(keys, active, first, limit))
        else:
            if self.files:
                self._file_new(keys)
            due = self._sweep(keys, active, first, limit)
        self._ring(now, due)
        todo = sorted((k for k in due if k in keys), key=lambda k: getattr(keys[k], "seq", 0))
        for key in todo:
            w = keys[key]
            kw._evaluate_key(key, w, now, out, inline=False)
            self._refile(keys, active, key, w)
        kw.swept = first
        self.mark = next(self.numbers)
        self.step_missing(kw, now, out)

    def step_missing(self, kw: KeyedWindows, now: float, out: list[Transition]) -> None:
        """Step the alerts whose key was evicted (or forgotten): their condition no longer
        holds (in the order of the table, as the full evaluation steps them)."""
        if not self.missing:
            return
        keys, active = kw.keys, kw.table.active
        for key in [k for k in active if k not in keys]:
            kw.table.step(key, False, None, now, out, dict)
            if key not in active:
                self.missing.pop(key, None)
                self.timer_of.pop(key, None)
        for key in [k for k in self.missing if k in keys or k not in active]:
            del self.missing[key]  # (a line brought it back)

    def follows(self, kw: KeyedWindows, now: float) -> bool:
        """Whether a tick at `now` may visit only the keys it could change (else every key is
        evaluated, and filed anew): spike's, only once a span has passed since the start (a
        tick before it, or the first after it, changes every key), and while the middle of its
        span has not gone back (a bucket would cross back into the current half)."""
        if not self.spike:
            return self.ready
        return self.ready and self.opens(kw, now) and kw.middle(now) >= self.mid

    def opens(self, kw: KeyedWindows, now: float) -> bool:
        """spike: whether keys may fire at `now` (`KeyedWindows._spike`)."""
        return kw.started is not None and now - kw.started >= kw.span

    def rebuild(self, kw: KeyedWindows, now: float) -> None:
        """File every key after a full evaluation at `now` (spike before its first span: none,
        the next tick evaluates every key again)."""
        first = int((now - kw.span) // kw.width)
        if self.spike:
            if not self.opens(kw, now):
                self.ready = False
                return
            self.mid = kw.middle(now)
        self._file_all(kw.keys, kw.table.active)
        active = kw.table.active
        self.missing = {k: None for k in active if k not in kw.keys}
        self.retime(((k, i) for k, i in active.items() if k in kw.keys), kw.rule)
        kw.swept = first
        self.mark = next(self.numbers)
        self.ready = True

    def retime(self, alerts: Iterable[tuple[Key, Instance]], rule: Rule) -> None:
        """The timers anew, for these active alerts under `rule` (a reload that keeps the
        rule's windows may change its `for` or keep_firing_for)."""
        self.timers.clear()
        self.timer_of.clear()
        for key, inst in alerts:
            self._time(key, inst, rule)

    def dropped(self, key: Key, w: Window, active: bool) -> None:
        """A window left the table elsewhere (evicted); `active`: its key's alert."""
        if getattr(w, "due", None) is not None:
            self.filed -= 1
        if active:
            self.missing[key] = None

    # --- what the rule's updates and evaluations tell ------------------------------------------

    def touched(self, key: Key, w: Window) -> None:
        """A line updated the key's window (not quiet): the next number, and filed again when
        its oldest bucket is now before its filing (a line of an older time). A key not filed
        yet is filed at the next tick (`_file_new`; lazy: `_updated`)."""
        w.seq = next(self.numbers)
        d = w.due
        if d is not None:
            b = w.oldest()
            if b is not None and b < d:
                self._file_at(key, w, b)

    def seen(self, key: Key, w: Window) -> None:
        """The key's alert is active after an inline evaluation (its window was updated): the
        next number, and filed under its oldest bucket when that is before its filing."""
        w.seq = next(self.numbers)
        d, b = w.due, w.oldest()
        if d is None or (b is not None and b < d):
            self.file_oldest(key, w)

    def stepped(self, key: Key, w: Window, inst: Instance, rule: Rule, inline: bool) -> None:
        """The key's alert stepped, and is active: `seen` (inline), and its timer. (A tick's
        evaluation is filed by the tick.)"""
        if inline and self.quiet:  # (else `touched` at the update)
            self.seen(key, w)
        self._time(key, inst, rule)

    def ended(self, key: Key, w: Window, inline: bool) -> None:
        """The key's alert stepped, and is no longer active."""
        self.timer_of.pop(key, None)
        if inline and self.quiet and w.due in (None, PARKED):  # (filed as inactive keys are)
            nb = w.newest()
            self._file_at(key, w, nb if nb is not None and self.files else SOON)

    def file_oldest(self, key: Key, w: Window) -> None:
        """File the active key under its window's oldest bucket (PARKED: none; spike: or
        `_oldest`)."""
        b = self._oldest(w)
        if b is None:
            if w.due is None:
                self.filed += 1
            w.due = PARKED
        else:
            self._file_at(key, w, b)

    def _oldest(self, w: Window) -> int | None:
        """The window's oldest bucket, the first to leave it; spike: or, when earlier,
        SPIKE_BUCKETS before the oldest bucket of the current half (the first to cross into
        the previous one), as the tick takes off the calendar the buckets before the middle
        less SPIKE_BUCKETS."""
        b = w.oldest()
        if b is not None and self.spike:
            c = w.oldest_since(self.mid)  # type: ignore[attr-defined]  # a CountWindow
            if c is not None and c - SPIKE_BUCKETS < b:
                return int(c - SPIKE_BUCKETS)
        return b

    # --- a tick's parts ---------------------------------------------------------------------

    def _file_at(self, key: Key, w: Window, b: int) -> None:
        if w.due is None:
            self.filed += 1
        entry = self.cal.get(b)
        if entry is None:
            entry = self.cal[b] = (b, [])
        entry[1].append(key)
        w.due = entry[0]  # one int object per bucket, not per key

    def _file(self, key: Key, w: Window) -> None:
        """File an inactive key: under its window's newest bucket (soon: an empty window) when
        quiet, else as the active ones."""
        if not self.quiet:
            self.file_oldest(key, w)
            return
        nb = w.newest()
        self._file_at(key, w, nb if nb is not None else SOON)

    def _file_all(self, keys: OrderedDict[Key, Window], active: Mapping[Key, object]) -> None:
        """File every key anew, and number the active ones in the order of `keys`."""
        self.cal, self.filed = {}, 0
        for key, w in keys.items():
            w.due = None
            if key in active or not self.quiet:
                w.seq = next(self.numbers)
                self.file_oldest(key, w)
            elif self.files:
                self._file(key, w)

    def _file_new(self, keys: OrderedDict[Key, Window]) -> None:
        """File the keys made since the last tick: the unfiled ones, at the end of `keys` (none
        of them active: an active key is filed at its inline evaluation)."""
        missing = len(keys) - self.filed
        if missing < 0:  # (keys removed behind the sweep's back): file them all anew
            for key, w in keys.items():
                if getattr(w, "due", None) is None:
                    self._file(key, w)
            self.filed = len(keys)
            return
        if missing:
            for key, w in reversed(keys.items()):
                if getattr(w, "due", None) is None:
                    self._file(key, w)
                    missing -= 1
                    if not missing:
                        return
            self.filed = len(keys)  # (walked them all: every key is filed)

    def _sweep(
        self, keys: OrderedDict[Key, Window], active: Mapping[Key, object], first: int, limit: int
    ) -> dict[Key, None]:
        """Take the keys filed before `limit` off the calendar: the active ones (every one, not
        quiet) are returned (to evaluate, and file again: TAKEN); the others are expired to
        `first`, forgotten when emptied, else filed again under their newest bucket."""
        due: dict[Key, None] = {}
        for b in [b for b in self.cal if b < limit]:
            _, filed = self.cal.pop(b)
            for key in filed:
                w = keys.get(key)
                if w is None or w.due != b:
                    continue  # (a filing left behind)
                if key in active or not self.quiet:
                    w.due = TAKEN
                    due[key] = None
                elif not self.files:
                    w.due = None
                    self.filed -= 1
                else:
                    w.expire(first)
                    if w.empty():
                        del keys[key]
                        self.filed -= 1
                    else:
                        self._file(key, w)
        return due

    def _updated(self, keys: OrderedDict[Key, Window]) -> dict[Key, None]:
        """lazy: the keys updated since the last tick (numbered after it), walking back from
        the end of `keys` (in order of last update)."""
        mark = self.mark
        due: dict[Key, None] = {}
        for key, w in reversed(keys.items()):
            if getattr(w, "seq", 0) <= mark:
                break
            due[key] = None
        return due

    def _ring(self, now: float, due: dict[Key, None]) -> None:
        """Add the keys whose timer is due at `now` to `due`."""
        timers, timer_of = self.timers, self.timer_of
        limit = now + EARLY
        while timers and timers[0][0] <= limit:
            t, key = heapq.heappop(timers)
            if timer_of.get(key) == t:
                del timer_of[key]
                due[key] = None

    def _refile(
        self, keys: OrderedDict[Key, Window], active: Mapping[Key, object], key: Key, w: Window
    ) -> None:
        """File a key after the tick evaluated it (forgotten: an inactive one whose window
        emptied)."""
        d = w.due
        if not self.quiet and key not in active and w.empty():
            del keys[key]  # (as the full evaluation forgets it)
            if d is not None:
                self.filed -= 1
        elif key in active or not self.quiet:
            b = self._oldest(w)
            if (PARKED if b is None else b) != d:
                self.file_oldest(key, w)
        elif not self.files:
            if d is not None:
                w.due = None
                self.filed -= 1
        elif w.empty():
            del keys[key]
            if d is not None:
                self.filed -= 1
        elif d != w.newest():
            self._file(key, w)

    def _time(self, key: Key, inst: Instance, rule: Rule) -> None:
        if inst.state == "pending":
            t = inst.active_at + rule.for_
        elif inst.keep_since is not None:  # (none left after a reload: at the next tick)
            keep = rule.keep_firing_for
            t = inst.keep_since + keep if keep > 0 else -math.inf
        else:
            self.timer_of.pop(key, None)  # (its entry in `timers` is passed over)
            return
        if self.timer_of.get(key) != t:
            self.timer_of[key] = t
            heapq.heappush(self.timers, (t, key))
