"""A tick evaluates only the active alerts it could change (alerter.rules.sweep): they
fire, resolve, start and end keep_firing_for at the same ticks, in the same order, with the
same values, as when every key is evaluated at every tick."""

from __future__ import annotations

import random

import pytest

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.engine import Engine
from tests.rules.helpers import engine, logs, values
from tests.rules.test_sweep import pair, run, windows

MATCH = r"'(?:repeated (?P<n>\d+) )?login user=(?P<user>\S+) ip=(?P<ip>\S+) v=(?P<v>\S+)'"
# aggregate -> thresholds that many keys cross, and what the rule needs besides
ALERTING = {
    "count": ((">= 1", ">= 2", "> 2"), ""),
    "rate": (("> 0", ">= 0.05"), ""),
    "distinct": ((">= 1", ">= 2"), "field: user"),
    "change": (("> 0",), "field: user"),
    "last": (("> 4", "< 10", ">= 9"), "field: v"),
}


def alerting_rule(rnd: random.Random, i: int) -> str:
    """A swept rule many of whose keys fire, each window holding buckets of several times."""
    agg = rnd.choice(("count", "count", *ALERTING))
    thresholds, needs = ALERTING[agg]
    lines = [
        f"- alert: R{i}",
        f"  logs: {{match: {MATCH}}}",
        f"  aggregate: {agg}",
        f"  over: {rnd.choice((20, 30, 60))}s",
        f"  by: {rnd.choice(('[ip]', '[ip]', '[ip, user]'))}",
        f'  threshold: "{rnd.choice(thresholds)}"',
        f"  max_keys: {rnd.choice((4, 30, 1000))}",
        f"  for: {rnd.choice((0, 3, 7, 20))}s",
        f"  keep_firing_for: {rnd.choice((0, 0, 5, 15))}s",
    ]
    if needs:
        lines.append("  " + needs)
    if agg == "count" and rnd.random() < 0.3:
        lines.append('  resolve_threshold: "< 1"')
    return "\n".join(lines)


def alerting_rules(rnd: random.Random) -> str:
    rules = "\n".join(alerting_rule(rnd, i) for i in range(rnd.randint(1, 3)))
    rules = "\n".join("      " + ln for ln in rules.splitlines())
    interval = rnd.choice((1, 2, 5))
    return f"groups:\n  - name: g\n    interval: {interval}s\n    rules:\n{rules}\n"


@pytest.mark.parametrize("back", [False, True], ids=["clock", "clock-steps-back"])
def test_ticks_of_the_due_alerts_equal_evaluating_every_key(back: bool) -> None:
    transitions = ticks = 0
    for seed in range(60):
        t, n = run(seed, 200, back, alerting_rules)
        transitions += t
        ticks += n
    assert transitions > 2000 and ticks > 4000  # (the runs did fire, resolve and tick)


def test_the_alerting_rules_are_swept() -> None:
    """(A guard on the generator above: its rules take the ticks under test.)"""
    for seed in range(30):
        assert all(
            r.sweep is not None for r in pair(alerting_rules(random.Random(seed)))[0]._log_rules
        )


RULE = """
groups:
  - name: g
    interval: 10s
    rules:
      - alert: Brute
        logs: {match: 'fail ip=(?P<ip>\\S+)'}
        aggregate: count
        over: 60s
        by: [ip]
        threshold: ">= 1"
"""


def fails(e: Engine, t: float, *ips: str) -> list[tuple[str, str]]:
    ts = logs(e, t, [LogEvent(t, "app", f"fail ip={ip}") for ip in ips])
    return [(x.alert.labels["ip"], x.state) for x in ts]


def ticks(e: Engine, start: int, stop: int) -> dict[int, list[tuple[str, str]]]:
    """The transitions of the ticks from `start` to `stop` (10 s apart), by tick."""
    out: dict[int, list[tuple[str, str]]] = {}
    for t in range(start, stop, 10):
        if got := [(x.alert.labels["ip"], str(x.state)) for x in e.tick(t)]:
            out[t] = got
    return out


def test_an_alert_whose_for_ends_with_no_new_line_fires_at_that_tick() -> None:
    e = engine(RULE.replace('">= 1"', '">= 1"\n        for: 25s'))
    e.tick(1000)
    assert fails(e, 1001, "a") == [("a", "pending")]
    assert ticks(e, 1010, 1050) == {1030: [("a", "firing")]}  # 1026 is between ticks


def test_a_window_that_slides_resolves_its_alert_at_the_tick_its_last_line_leaves() -> None:
    e = engine(RULE)
    e.tick(1000)
    assert fails(e, 1001, "a") == [("a", "firing")]
    fails(e, 1025, "a")
    # the line of 1001 leaves at 1061.5 (buckets of 0.5 s), that of 1025 at 1085.5
    assert ticks(e, 1010, 1120) == {1090: [("a", "resolved")]}
    assert e.alerts() == []


def test_keep_firing_for_ends_at_the_first_tick_after_it() -> None:
    e = engine(RULE.replace('">= 1"', '">= 1"\n        keep_firing_for: 35s'))
    e.tick(1000)
    assert fails(e, 1001, "a") == [("a", "firing")]
    # the window empties at the tick of 1070; kept firing until 1105
    assert ticks(e, 1010, 1150) == {1110: [("a", "resolved")]}


def test_an_evicted_firing_key_resolves_at_the_next_tick() -> None:
    e = engine(RULE.replace('">= 1"', '">= 1"\n        max_keys: 2'))
    e.tick(1000)
    assert fails(e, 1001, "a", "b") == [("a", "firing"), ("b", "firing")]
    assert fails(e, 1002, "c") == [("c", "firing")]  # a is evicted
    assert ticks(e, 1010, 1030) == {1010: [("a", "resolved")]}


def test_a_ticks_transitions_come_in_the_order_of_the_keys_last_update() -> None:
    """b was updated after a: at the tick where both windows empty, a resolves first, though
    a's window alone lost a bucket at an earlier tick."""
    swept, full = pair(RULE)
    for e in (swept, full):
        e.tick(1000)
        fails(e, 1000, "a")
        fails(e, 1012, "a")
        fails(e, 1015, "b")
    want = {1080: [("a", "resolved"), ("b", "resolved")]}
    assert ticks(swept, 1010, 1100) == ticks(full, 1010, 1100) == want


def test_a_firing_key_counted_again_moves_after_the_others() -> None:
    """b fired before a, and was counted again after: when both resolve at one tick, a
    resolves first."""
    swept, full = pair(RULE)
    for e in (swept, full):
        e.tick(1000)
        fails(e, 1000, "b")
        fails(e, 1001, "a")
        fails(e, 1005, "b")
    want = {1070: [("a", "resolved"), ("b", "resolved")]}
    assert ticks(swept, 1010, 1100) == ticks(full, 1010, 1100) == want


def test_a_reload_that_shortens_for_fires_at_the_new_end() -> None:
    """The rule's windows are taken over as they are (its thresholds are the same): the
    pending alert's timer is the new `for`'s."""
    rules = RULE.replace('">= 1"', '">= 1"\n        for: 45s')
    old = engine(rules)
    old.tick(1000)
    assert fails(old, 1001, "a") == [("a", "pending")]
    new = engine(rules.replace("for: 45s", "for: 20s"))
    new.take_over(old, 1005)
    assert ticks(new, 1010, 1060) == {1030: [("a", "firing")]}


def test_a_restored_rule_fires_its_pending_alerts_on_time() -> None:
    rules = RULE.replace('">= 1"', '">= 1"\n        for: 25s')
    old = engine(rules)
    old.tick(1000)
    assert fails(old, 1001, "a") == [("a", "pending")]
    new = engine(rules)
    new.restore(old.snapshot(), 1005)
    assert ticks(new, 1010, 1050) == {1030: [("a", "firing")]}
    assert windows(new) == windows(old)


def test_a_reload_that_removes_keep_firing_for_resolves_at_the_next_tick() -> None:
    """Even at a clock stepped back before the keeping began: with no keep_firing_for an
    alert whose condition has stopped resolves at any evaluation."""
    rules = RULE.replace('">= 1"', '">= 1"\n        keep_firing_for: 35s')
    old = engine(rules)
    old.tick(1000)
    assert fails(old, 1001, "a") == [("a", "firing")]
    assert ticks(old, 1010, 1080) == {}  # kept firing since 1070
    new = engine(rules.replace("keep_firing_for: 35s", "keep_firing_for: 0s"))
    new.take_over(old, 1075)
    assert [(x.alert.labels["ip"], x.state) for x in new.tick(1065)] == [("a", "resolved")]


def test_a_line_of_an_older_time_leaves_the_window_first() -> None:
    """A firing key counted a line from a writer behind: at the tick that line leaves the
    window the alert's value falls, as when every key is evaluated."""
    rules = RULE.replace('">= 1"', '">= 3"')
    swept, full = pair(rules)
    for e in (swept, full):
        e.tick(1000)
        assert fails(e, 1030, "a", "a", "a") == [("a", "firing")]
        batch = [LogEvent(1000, "app", "fail ip=a")]  # read at 1031, written at 1000
        assert e.process(LogBatch.of_events("app", 1031, batch), 1031) == []
        assert values(e) == {(("ip", "a"),): 4.0}
        assert ticks(e, 1040, 1080) == {}
        assert values(e) == {(("ip", "a"),): 3.0}  # the line of 1000 left at 1060.5
        assert ticks(e, 1080, 1110) == {1100: [("a", "resolved")]}
