"""Which keys a sweeping tick visits (alerter.rules.sweep): the keys whose value can move, not
every key; counted without a clock, by the rule's evaluations. Moved from test_sweep.py, which
compares the transitions and windows with evaluating every key."""

from __future__ import annotations

from typing import Any

import pytest

from alerter.core.events import LogEvent
from alerter.rules.alert import Transition
from alerter.rules.engine import Engine
from tests.rules.helpers import engine, logs
from tests.rules.test_sweep import pair, windows


def test_an_address_seen_once_is_forgotten_when_its_window_empties() -> None:
    rules = """
groups:
  - name: g
    interval: 10s
    rules:
      - alert: Brute
        logs: {match: 'fail ip=(?P<ip>\\S+)'}
        aggregate: count
        over: 60s
        by: [ip]
        threshold: ">= 3"
"""
    e = engine(rules)
    r = e._log_rules[0]
    assert r.sweep is not None
    e.tick(1000)
    logs(e, 1000, [LogEvent(1000, "app", f"fail ip=10.0.0.{i}") for i in range(50)])
    logs(e, 1030, [LogEvent(1030, "app", "fail ip=10.0.1.1")] * 3)  # fires
    assert len(r.keys) == 51 and len(r.table.active) == 1
    e.tick(1040)
    assert len(r.keys) == 51  # still in their window
    e.tick(1070)  # the first 50 have left it
    assert list(r.keys) == [("10.0.1.1",)]
    resolved = e.tick(1100)
    assert [(t.alert.labels["ip"], t.state) for t in resolved] == [("10.0.1.1", "resolved")]
    assert not r.keys


def counting(e: Engine) -> list[tuple[str, ...]]:
    """The keys the engine's first log rule evaluates from now on (appended as they are)."""
    r = e._log_rules[0]
    evaluate, seen = r._evaluate_key, []

    def counted(key: tuple[str, ...], *args: Any, **kwargs: Any) -> None:
        seen.append(key)
        evaluate(key, *args, **kwargs)

    r._evaluate_key = counted  # type: ignore[method-assign]
    return seen


def test_a_tick_over_many_idle_keys_evaluates_none_of_them() -> None:
    """20k addresses seen once each, below the threshold: the ticks after evaluate none of
    them (the full evaluation evaluates each at every tick), and leave the same windows."""
    rules = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: Brute
        logs: {match: 'fail ip=(?P<ip>\\S+)'}
        aggregate: count
        over: 1h
        by: [ip]
        threshold: ">= 5"
"""
    swept, full = pair(rules)
    events = [LogEvent(1000, "app", f"fail ip=10.{i // 250}.{i % 250}.1") for i in range(20_000)]
    for e in (swept, full):
        e.tick(999)
        logs(e, 1000, events)
        e.tick(1000)  # (files every key)

    def evaluations(e: Engine) -> int:
        seen = counting(e)
        for t in range(1001, 1011):
            e.tick(t)
        return len(seen)

    assert evaluations(swept) == 0
    assert evaluations(full) == 10 * 20_000
    assert windows(swept) == windows(full)


@pytest.mark.parametrize(
    ("aggregate", "extra"), [("sum", "field: v"), ("quantile", "field: v\n        q: 0.9")]
)
def test_a_tick_evaluates_only_the_keys_whose_value_can_move(aggregate: str, extra: str) -> None:
    """A thousand keys seen once, spread over a minute of a 10m window: a tick evaluates the
    keys a line updated since the last tick (a quantile: evaluated at ticks only) and those
    whose oldest bucket left the window, not the others."""
    rules = f"""
groups:
  - name: g
    interval: 1s
    rules:
      - alert: Busy
        logs: {{match: 'req key=(?P<key>\\S+) v=(?P<v>\\S+)'}}
        aggregate: {aggregate}
        {extra}
        over: 10m
        by: [key]
        threshold: "< 2"
"""
    e = engine(rules)
    r = e._log_rules[0]
    e.tick(1000)
    logs(e, 1060, [LogEvent(1000 + i * 0.06, "app", f"req key=k{i} v=5") for i in range(1000)])
    e.tick(1060)  # (files every key)
    evaluated = counting(e)
    e.tick(1061)
    assert evaluated == []
    inline = logs(e, 1062, [LogEvent(1062, "app", "req key=k900 v=-40")])
    assert [t.alert.labels["key"] for t in inline] == ([] if aggregate == "quantile" else ["k900"])
    evaluated.clear()
    fired = e.tick(1062)
    assert evaluated == ([("k900",)] if aggregate == "quantile" else [])
    assert [t.alert.labels["key"] for t in fired] == (["k900"] if aggregate == "quantile" else [])
    evaluated.clear()
    e.tick(1605)  # the first 100 keys' buckets (0.06 s apart, 5 s wide) have left the window
    assert 0 < len(evaluated) <= 100
    assert len(r.keys) == 1000 - len(evaluated)  # forgotten, as their windows emptied


SPIKE = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: Burst
        logs: {match: 'req ip=(?P<ip>\\S+)'}
        aggregate: spike
        over: 60s
        by: [ip]
        factor: 2
        min_count: 2
        direction: up
"""


@pytest.mark.parametrize(
    ("line", "ticks"),
    [
        (200, (201, 261, 250)),  # a bucket crosses into the previous half, then back
        (125, (126, 119)),  # keys may fire from a span after the start: back before it
    ],
    ids=["middle-back", "before-the-first-span"],
)
def test_a_spike_tick_after_the_clock_stepped_back_is_as_evaluating_every_key(
    line: float, ticks: tuple[float, ...]
) -> None:
    """The halves of a spike's span move back with the clock, and keys fire only from a span
    after the start: a tick after the clock went back (a reload keeps the rule's sweep, and
    its group ticks anew) changes keys no calendar named."""
    swept, full = pair(SPIKE)
    got: list[list[tuple[str, str]]] = []
    sweeping = []  # (after the first tick: the swept engine's next tick may sweep)
    for e in (swept, full):
        e.tick(0)
        logs(e, line, [LogEvent(line, "app", "req ip=a")] * 4)
        r = e._log_rules[0]
        out: list[Transition] = []
        for now in ticks:
            r.evaluate(now, out)  # (the group's ticks, the clock stepping back)
            if now == ticks[0]:
                sweeping.append(r.sweep is not None and r.sweep.ready)
        got.append([(t.state, t.alert.labels["ip"]) for t in out])
    assert sweeping == [True, False]
    assert got[0] == got[1]
    assert len(got[1]) == len(ticks)  # (fired, resolved, fired again; or fired, resolved)


def thousand_keys(rules: str, line: str, start: float) -> tuple[Engine, list[tuple[str, ...]]]:
    """An engine of `rules` started at `start`, holding a thousand keys seen once each (lines
    `{line}=k0` .. `k999`, 0.06 s apart from 1000 on), whose ticks at 1060 (filing every key)
    and 1061 evaluate none of them; then k900 seen again at 1062 and its tick, which evaluates
    it alone. With the keys the engine evaluates from then on."""
    e = engine(rules)
    e.tick(start)
    logs(e, 1060, [LogEvent(1000 + i * 0.06, "app", f"{line}=k{i}") for i in range(1000)])
    e.tick(1060)
    evaluated = counting(e)
    e.tick(1061)
    assert evaluated == []
    logs(e, 1062, [LogEvent(1062, "app", f"{line}=k900")])
    evaluated.clear()  # (absent: its inline evaluation)
    e.tick(1062)
    assert evaluated == [("k900",)]
    evaluated.clear()
    return e, evaluated


def test_an_absent_tick_evaluates_the_keys_whose_time_came_and_the_active_ones() -> None:
    """A thousand keys seen once over a minute: a tick evaluates those a line updated since the
    last one, those whose silence reached `over` (fired) or forget_after (forgotten), and the
    firing ones (their value, the silence, grows), not the others."""
    rules = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: Gone
        logs: {match: 'req key=(?P<key>\\S+)'}
        aggregate: absent
        over: 10m
        forget_after: 15m
        by: [key]
"""
    e, evaluated = thousand_keys(rules, "req key", 1000)
    r = e._log_rules[0]
    fired = e.tick(1603)  # k0..k50 were last seen 10 minutes ago or more
    assert sorted(evaluated) == sorted((f"k{i}",) for i in range(51))
    assert sorted((t.alert.labels["key"],) for t in fired) == sorted(evaluated)
    evaluated.clear()
    fired = e.tick(1604)  # the firing ones (their value), and k51..k66
    assert sorted(evaluated) == sorted((f"k{i}",) for i in range(67))
    assert len(fired) == 16
    resolved = e.tick(1903)  # k0..k50 forgotten (15 minutes), their alerts resolved
    assert sorted(t.alert.labels["key"] for t in resolved if t.state == "resolved") == sorted(
        f"k{i}" for i in range(51)
    )
    assert len(r.keys) == 1000 - 51


def test_a_spike_tick_evaluates_the_keys_whose_buckets_crossed_or_left() -> None:
    """A thousand keys seen once over a minute, a span after the start: a tick evaluates
    those a line updated since the last one and those one of whose buckets crossed into the
    previous half of the span or left it, not the others."""
    rules = SPIKE.replace("over: 60s", "over: 5m").replace("factor: 2", "factor: 1000")
    e, evaluated = thousand_keys(rules, "req ip", 400)  # (keys fire from 1000 on)
    r = e._log_rules[0]
    e.tick(1306)  # bucket 200 (the first 84 keys, 0.06 s apart, 5 s wide) is in the first half
    assert sorted(evaluated) == sorted((f"k{i}",) for i in range(84))
    e.tick(1400)  # (every bucket crossed)
    evaluated.clear()
    e.tick(1606)  # bucket 200 left the span: its keys forgotten
    assert sorted(evaluated) == sorted((f"k{i}",) for i in range(84))
    assert len(r.keys) == 1000 - 84
