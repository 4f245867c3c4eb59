"""When each firing alert's repeat decisions are next due, so that the runner's tick decides those
and not every firing alert with actions every second (a storm's 10k bans cost the main loop a
walk of them all, each tick, for as long as they fired).

A repeat decision that did nothing can do something again only once what it read changes:
- the plan key's `not_before` (a cooldown, a limit window, a ban in force, a ban lifted by hand,
  a refusal at run) ends: due then, or at once when that key's `not_before` is set anew (an
  alert on the same target was decided, which may have lowered it);
- a `repeat: false` action settled in the alert's firing: due when the firing changes, which is
  `handle` (`touch`);
- the alert itself: a changed alert is a new object (its value and annotations render the plan),
  due at once; a new sequence of alerts is walked for those.
Any other outcome (a run, a refusal recorded once per cooldown, the global caps) is due at the
next tick, as every decision was before. Deciding early is always safe: the decision is the one
the tick made before it had this calendar, which reads the same state.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from alerter.rules.alert import Alert

SETTLED = math.inf  # a `repeat: false` action with nothing left to do in this firing


@dataclass(slots=True, eq=False)
class Entry:
    """A firing alert as the tick last decided it."""

    alert: Alert
    position: int  # in the sequence of firing alerts walked last
    # per action of the alert's `on: firing` ones, in order: no decision before this (an empty
    # list: every action due)
    wakes: list[float] = field(default_factory=list)

    def due(self, index: int, now: float) -> bool:
        return index >= len(self.wakes) or self.wakes[index] <= now


class RepeatCalendar:
    """Main loop only."""

    def __init__(self) -> None:
        self._walked: Sequence[Alert] | None = None
        self._entries: dict[str, Entry] = {}  # fingerprint -> its entry in the walked sequence
        self._twins: list[Entry] = []  # an alert whose fingerprint came earlier: always due
        self._heap: list[tuple[float, int, Entry]] = []  # (earliest wake, tie, entry)
        self._tie = itertools.count()
        self._waiting: dict[str, list[tuple[Entry, int]]] = {}  # plan key -> (entry, action)
        self._waiters = 0  # in _waiting
        self._compact_at = 1000
        self._touched: set[str] = set()  # fingerprints due at the next tick whatever they say

    def due(self, firing: Sequence[Alert], now: float) -> list[Entry]:
        """The entries with an action to decide at `now`, in the order of `firing`. The same
        tuple as last time holds the same alerts; any other sequence is walked again."""
        if not (isinstance(firing, tuple) and firing is self._walked):
            return self._walk(firing, now)
        out = {id(e): e for e in self._twins}
        while self._heap and self._heap[0][0] <= now:
            wake, _, e = heapq.heappop(self._heap)
            if self._wakes_at(e, wake):
                out[id(e)] = e
        for fp in self._touched:
            if (touched := self._entries.get(fp)) is not None:
                out[id(touched)] = touched
        self._touched.clear()
        return sorted(out.values(), key=lambda e: e.position)

    def _walk(self, firing: Sequence[Alert], now: float) -> list[Entry]:
        before = self._entries
        self._walked, self._entries, self._twins = firing, {}, []
        out = []
        for i, alert in enumerate(firing):
            if alert.state != "firing" or not alert.actions:
                continue
            fp = alert.fingerprint
            if fp in self._entries:
                e = Entry(alert, i)
                self._twins.append(e)
                out.append(e)
                continue
            e = before.get(fp) or Entry(alert, i)
            if e.alert is not alert:
                e = Entry(alert, i)
            e.position = i
            self._entries[fp] = e
            if fp in self._touched or min(e.wakes, default=0.0) <= now:
                out.append(e)
        self._touched.clear()
        if len(self._heap) > 2 * len(self._entries) + 1000:  # of alerts gone, changed, woken
            kept = {id(e): (w, t, e) for w, t, e in self._heap if self._wakes_at(e, w)}
            self._heap = list(kept.values())
            heapq.heapify(self._heap)
        return out

    def decided(self, entry: Entry, wakes: list[float], keys: list[str | None]) -> None:
        """The tick decided the entry's due actions: `wakes[i]` is when action i is next due,
        `keys[i]` the plan key whose `not_before` holds it back (None: nothing does)."""
        entry.wakes = wakes
        if not self._current(entry):
            return  # (a twin: decided at every tick)
        for i, (wake, key) in enumerate(zip(wakes, keys, strict=True)):
            if key is not None and wake != SETTLED:
                self._waiting.setdefault(key, []).append((entry, i))
                self._waiters += 1
        first = min(wakes, default=0.0)
        if first != SETTLED:
            heapq.heappush(self._heap, (first, next(self._tie), entry))
        if self._waiters > self._compact_at:  # of alerts gone or changed, or woken early
            waiting = {
                k: list({(id(e), i): (e, i) for e, i in ws if self._current(e)}.values())
                for k, ws in self._waiting.items()
            }
            self._waiting = {k: ws for k, ws in waiting.items() if ws}
            self._waiters = sum(map(len, self._waiting.values()))
            self._compact_at = max(1000, 2 * self._waiters)

    def held(self, key: str) -> None:
        """The key's `not_before` was set: the actions waiting on it are due (at the next tick;
        within a tick one is set only once it has passed, which makes its waiters due anyway)."""
        waiting = self._waiting.pop(key, ())
        self._waiters -= len(waiting)
        for e, i in waiting:
            if i < len(e.wakes) and e.wakes[i] != SETTLED and self._current(e):
                e.wakes[i] = 0.0
                self._touched.add(e.alert.fingerprint)

    def touch(self, fingerprint: str) -> None:
        """The alert's firing changed (it fired, resolved): each of its actions is due."""
        e = self._entries.get(fingerprint)
        if e is not None:
            e.wakes = []
            self._touched.add(fingerprint)

    def _wakes_at(self, e: Entry, wake: float) -> bool:
        """Whether a heap record of `wake` is the entry's (a later one replaced it otherwise)."""
        return self._current(e) and wake == min(e.wakes, default=0.0)

    def _current(self, e: Entry) -> bool:
        return self._entries.get(e.alert.fingerprint) is e
