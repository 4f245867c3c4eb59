"""When a rule's next evaluation could change anything, with no new input (replay's gaps).

`alerter replay` steps through every evaluation due between line times (DESIGN "Event time");
across a long silence in a log most of them change nothing. `until(rule, now)` is the earliest
time after an evaluation at `now` at which a later evaluation, with no line or sample between,
could make a transition: `now` when it cannot tell (any evaluation may), `inf` when none can.
Replay evaluates then, not at every interval between; what it prints is the same.

Why each answer holds without input:
- a pending alert, a firing one kept by `keep_firing_for`, or an alert whose key is gone, may
  change at any evaluation: `now`;
- `absent`: a silent key fires once it has been silent `over` (its last sight + over); a firing
  one stays firing until a line comes (evaluated as the line is), or, with `by`, until the key
  is forgotten (last sight + forget_after);
- count, rate and distinct with `>`/`>=`: a window only drains without lines, so a condition
  that does not hold cannot come to hold; with nothing active, nothing changes. Any threshold:
  once every window is empty its value (0) stays, so firing alerts stay firing (an alert whose
  condition had stopped would have resolved, or be kept by keep_firing_for, at `now`);
- `new_value`: a fresh value is an active alert; otherwise only its table of sights ages, and a
  line's novelty is judged from the times in it, not from the ageing;
- any other log rule with keys (sum, min, ratio, spike, `<` thresholds...): `now`;
- a metric rule with no series: its values are undefined, only `absent` depends on time (as
  for log rules, from the last sample or the start); with series: `now`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alerter.rules.keyedwindows import KeyedWindows
    from alerter.rules.metricrules import MetricRule
    from alerter.rules.state import AlertTable

INF = math.inf
_DRAINING = ("count", "rate", "distinct")  # values that only fall without input


def until(rule: KeyedWindows | MetricRule, now: float) -> float:
    from alerter.rules.keyedwindows import KeyedWindows

    if isinstance(rule, KeyedWindows):
        return _log(rule, now)
    return _metric(rule, now)


def _settled(table: AlertTable) -> bool:
    """Every active alert is firing, and none is only kept firing by keep_firing_for."""
    return all(i.state == "firing" and i.keep_since is None for i in table.active.values())


def _log(r: KeyedWindows, now: float) -> float:
    active = r.table.active
    if r.agg == "absent":
        if not _settled(r.table) or any(k not in r.keys for k in active):
            return now
        rule, horizon = r.rule, INF
        for key, w in r.keys.items():
            seen = w.value() or 0.0
            if key not in active:
                horizon = min(horizon, seen + rule.over)
            elif rule.by:
                horizon = min(horizon, seen + rule.forget_after)
        return max(horizon, now)
    if r.agg in _DRAINING:
        th = r.rule.threshold
        if not active and th is not None and th.op in (">", ">="):
            return INF
        if not _settled(r.table) or any(k not in r.keys for k in active):
            return now
        # firing alerts whose windows are empty: their value (0) stays, and so does the answer
        return INF if all(w.empty() for w in r.keys.values()) else now
    if active:
        return now
    return INF if r.agg == "new_value" or not r.keys else now


def _metric(r: MetricRule, now: float) -> float:
    if r.series:
        return now
    active = r.table.active
    rule = r.rule
    if r.agg == "absent":
        if not _settled(r.table):
            return now
        if not rule.by:
            return INF if () in active else max(max(r.last_sample, r.started) + rule.over, now)
        horizon = INF
        for key, seen in r.key_seen.items():
            horizon = min(horizon, seen + (rule.forget_after if key in active else rule.over))
        if any(k not in r.key_seen for k in active):
            return now
        return max(horizon, now)
    return now if active else INF
