"""A tick that visits only the keys it could change (alerter.rules.sweep) makes the same
transitions, keeps the same windows and forgets the same keys as evaluating every key."""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.model import RuleSet, Threshold
from alerter.rules.sweep import sweeps
from alerter.testing import RecordingHooks
from tests.rules.helpers import engine, logs

MATCH = r"'(?:repeated (?P<n>\d+) )?login user=(?P<user>\S+) ip=(?P<ip>\S+) v=(?P<v>\S+)'"
# aggregate -> what the rule needs besides a threshold
NEEDS = {
    "count": "",
    "rate": "",
    "distinct": "field: user",
    "change": "field: user",
    "last": "field: v",
    "sum": "field: v",
    "avg": "field: v",
    "min": "field: v",
    "max": "field: v",
    "ratio": """of: ['user=~"u[01]"']""",
    "quantile": "field: v\n        q: 0.5",
}
SWEPT = ("count", "rate", "distinct", "change", "last")


def random_rule(rnd: random.Random, i: int) -> str:
    agg = rnd.choice((*SWEPT, *SWEPT, *NEEDS))
    over = rnd.choice((60, 120, 300))
    op = rnd.choice((">", ">=", ">", ">=", "<", "<=", "==", "!="))
    bound: float = rnd.choice((0, 1, 2, 3, 4, 6))
    if agg == "rate":
        bound = bound / over
    elif agg == "ratio":
        bound = rnd.choice((0.2, 0.5, 0.8))
    elif agg in ("last", "sum", "avg", "min", "max", "quantile"):
        bound = rnd.choice((2, 5, 8, 15))
    lines = [
        f"- alert: R{i}",
        f"  logs: {{match: {MATCH}}}",
        f"  aggregate: {agg}",
        f"  over: {over}s",
        f"  by: {rnd.choice(('[ip]', '[ip]', '[ip, user]', '[]'))}",
        f'  threshold: "{op} {bound}"',
        f"  max_keys: {rnd.choice((3, 10, 40, 1000))}",
        f"  for: {rnd.choice((0, 0, 20, 45))}s",
        f"  keep_firing_for: {rnd.choice((0, 0, 30))}s",
    ]
    if NEEDS[agg]:
        lines.append("  " + NEEDS[agg].replace("\n        ", "\n  "))
    if agg == "count" and rnd.random() < 0.4:
        lines.append("  weight: n")
    if rnd.random() < 0.25:  # (one that overlaps the threshold is refused at load)
        fires = Threshold.parse(f"{op} {bound}")
        apart = [
            t for t in ("< 1", "<= 2", "< 3", "> 9") if Threshold.parse(t).overlap(fires) is None
        ]
        if apart:
            lines.append(f'  resolve_threshold: "{rnd.choice(apart)}"')
    return "\n".join(lines)


def random_rules(rnd: random.Random) -> str:
    rules = "\n".join(random_rule(rnd, i) for i in range(rnd.randint(1, 4)))
    rules = "\n".join("      " + ln for ln in rules.splitlines())
    interval = rnd.choice((5, 10, 30))
    return f"groups:\n  - name: g\n    interval: {interval}s\n    rules:\n{rules}\n"


def retuned(rnd: random.Random, rules: str) -> str:
    """`rules` as a user might edit them between two reloads: each rule's threshold and `for`
    drawn again, and a comment line above them all (every rule written one line lower). What
    their windows hold is unchanged (Rule.keeps_windows_of)."""
    rules = re.sub(
        r'(?<!resolve_)threshold: "[^"]*"',
        lambda _: f'threshold: "{rnd.choice((">=", ">", "<", "<="))} {rnd.choice((1, 2, 3, 6))}"',
        rules,
    )
    # a resolve_threshold the new threshold overlaps is refused at load: the user drops it
    kept = []
    for rule in re.split(r"(?m)^(?=\s*- alert:)", rules):
        fires = re.search(r'(?<!resolve_)threshold: "([^"]*)"', rule)
        resolves = re.search(r'resolve_threshold: "([^"]*)"', rule)
        if (
            fires
            and resolves
            and Threshold.parse(resolves[1]).overlap(Threshold.parse(fires[1])) is not None
        ):
            rule = rule.replace(resolves[0], "")
        kept.append(rule)
    rules = "".join(kept)
    rules = re.sub(r"for: \d+s", lambda _: f"for: {rnd.choice((0, 20, 45))}s", rules)
    return "# edited\n" + rules


def random_line(rnd: random.Random, addresses: int) -> str:
    rep = f"repeated {rnd.choice((0, 1, 3))} " if rnd.random() < 0.1 else ""
    v = rnd.choice((1, 3, 6, 9, 12, 20))
    return f"{rep}login user=u{rnd.randrange(4)} ip=10.0.{rnd.randrange(addresses)} v={v}"


@functools.lru_cache(maxsize=4)
def ruleset(rules: str) -> RuleSet:
    return load_rule_files([("t.yaml", rules)], default_interval=15)


def pair(rules: str) -> tuple[Engine, Engine]:
    """The engine as it runs, and the reference whose ticks evaluate every key."""
    swept, full = (
        Engine(ruleset(rules), {}, RecordingHooks()),
        Engine(ruleset(rules), {}, RecordingHooks()),
    )
    for r in full._log_rules:
        r.full_ticks()
    return swept, full


def windows(e: Engine) -> dict[str, Any]:
    """Every rule's windows as the snapshot writes them, in their order."""
    return {k: v["window"] for k, v in e.snapshot()["rules"].items()}


def run(
    seed: int,
    steps: int,
    back: bool,
    make_rules: Callable[[random.Random], str] = random_rules,
) -> tuple[int, int]:
    """Feed both engines the same random batches and ticks (the rules `make_rules` draws);
    `back`: the clock sometimes steps back (a wall clock set back). Returns (transitions,
    ticks) seen."""
    rnd = random.Random(seed)
    rules = make_rules(rnd)
    swept, full = pair(rules)
    addresses = rnd.choice((3, 20, 200))
    clock, seen, ticks = 1000.0, 0, 0
    for step in range(steps):
        r = rnd.random()
        if r < 0.05:
            clock += rnd.choice((200.0, 400.0))  # a silence: windows empty
        elif back and r < 0.1:
            clock -= rnd.uniform(0, 90)
        else:
            clock += rnd.uniform(0, 12)
        if rnd.random() < 0.6:
            events = []
            for _ in range(rnd.randint(1, 12)):
                # mostly at the clock, some older (a writer behind, or late)
                t = clock - (rnd.uniform(0, 400) if rnd.random() < 0.15 else rnd.uniform(0, 3))
                events.append(LogEvent(t, "app", random_line(rnd, addresses)))
            batch = LogBatch.of_events("app", clock, events)
            got, want = swept.process(batch, clock), full.process(batch, clock)
        else:
            got, want = swept.tick(clock), full.tick(clock)
            ticks += 1
        assert got == want, (seed, step, rules)
        assert not swept._rule_errors and not any(g.errors for g in swept._groups)
        seen += len(got)
        if rnd.random() < 0.03:  # a restart (both restored from their snapshot) or a reload
            snaps = swept.snapshot(), full.snapshot()
            assert snaps[0] == snaps[1], (seed, step, rules)
            before = swept
            reload = rnd.random() < 0.5
            if reload and rnd.random() < 0.5:  # an edited file: thresholds, for, lines moved
                rules = retuned(rnd, rules)
            swept, full = pair(rules)
            if reload:  # the key tables (and the sweep, thresholds unchanged) taken as they are
                swept.take_over(before, clock)
            else:
                swept.restore(snaps[0], clock)
            full.restore(snaps[1], clock)
        if step % 25 == 0:
            assert windows(swept) == windows(full), (seed, step, rules)
            assert swept.alerts() == full.alerts(), (seed, step, rules)
    assert windows(swept) == windows(full), (seed, rules)
    assert swept.alerts() == full.alerts()
    for name in ("evicted", "uncounted", "too_old"):
        assert getattr(swept._hooks, name) == getattr(full._hooks, name)
    return seen, ticks


@pytest.mark.parametrize("back", [False, True], ids=["clock", "clock-steps-back"])
def test_a_sweeping_tick_equals_evaluating_every_key(back: bool) -> None:
    transitions = ticks = 0
    for seed in range(40):
        t, n = run(seed, 120, back)
        transitions += t
        ticks += n
    assert transitions > 300 and ticks > 1500  # (the runs did fire, resolve and tick)


def test_the_random_rules_sweep_and_evaluate_every_key() -> None:
    """The random rules take both ways (a guard on the generator above)."""
    kinds = {
        r.sweep is not None
        for seed in range(60)
        for r in pair(random_rules(random.Random(seed)))[0]._log_rules
    }
    assert kinds == {True, False}


@pytest.mark.parametrize(
    ("aggregate", "threshold", "resolve", "expected"),
    [
        ("count", ">= 5", None, True),
        ("rate", "> 0.5", None, True),
        ("distinct", ">= 3", None, True),
        ("change", "> 0", None, True),
        ("last", "< 3", None, True),  # the value stays, or is gone: any threshold
        ("count", "< 5", None, False),  # a falling count crosses it
        ("count", "!= 0", None, False),
        ("sum", "> 5", None, False),
        ("max", "> 5", None, False),  # (a NaN in a line makes max non-monotone)
        ("ratio", "> 0.5", None, False),
        ("count", ">= 5", "< 1", True),
        ("count", ">= 5", "< 5", True),
        ("count", ">= 5", "<= 5", False),  # 5 resolves while the threshold holds
        ("count", "> 5", "<= 5", True),
        ("count", ">= 5", "> 9", False),
        ("last", "< 3", "< 1", False),
    ],
)
def test_which_rules_sweep(
    aggregate: str, threshold: str, resolve: str | None, expected: bool
) -> None:
    from dataclasses import replace

    rule = (
        engine(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        logs: {match: x}\n"
            '        aggregate: count\n        over: 1m\n        threshold: ">= 1"\n'
        )
        ._log_rules[0]
        .rule
    )
    rule = replace(
        rule,
        aggregate=aggregate,
        threshold=Threshold.parse(threshold),
        resolve_threshold=Threshold.parse(resolve) if resolve else None,
    )
    assert sweeps(rule) is expected


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


def test_a_tick_over_many_idle_keys_costs_less_than_evaluating_each() -> None:
    """20k addresses seen once each, below the threshold: a tick's time does not grow with
    them (generous: the sweep is about 100 times faster here)."""
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

    def ticks(e: Engine) -> float:
        t0 = time.perf_counter()
        for t in range(1001, 1011):
            e.tick(t)
        return time.perf_counter() - t0

    assert ticks(swept) * 5 < ticks(full)
    assert windows(swept) == windows(full)
