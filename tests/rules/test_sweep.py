"""A tick that visits only the keys it could change (alerter.rules.sweep) makes the same
transitions, keeps the same windows and forgets the same keys as evaluating every key."""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.model import RuleSet, Threshold
from alerter.rules.sweep import quiet, sweeps
from alerter.testing import RecordingHooks
from tests.rules.helpers import engine

MATCH = r"'(?:repeated (?P<n>\d+) )?login user=(?P<user>\S+) ip=(?P<ip>\S+) v=(?P<v>\S+)'"
# a regex starting with a literal: the batch plans (keyed, bulk) serve its rules
BATCH_MATCH = r"'login user=(?P<user>\S+) ip=(?P<ip>\S+) v=(?P<v>\S+)'"
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
    "spike": "factor: 2\n        min_count: 2",
    "absent": "",
}
UNBOUND = ("spike", "absent")  # (no threshold)
QUIET = ("count", "rate", "distinct", "change", "last")
OPS = (">", ">=", "<", "<=", "==", "!=")


def random_rule(
    rnd: random.Random,
    i: int,
    agg: str = "",
    op: str = "",
    match: str = MATCH,
    resolves: float = 0.25,
) -> str:
    """A rule of aggregate `agg` under threshold operator `op` (drawn when empty), with a
    resolve_threshold at odds `resolves`."""
    agg = agg or rnd.choice((*QUIET, *QUIET, *NEEDS))
    over = rnd.choice((60, 120, 300))
    op = op or rnd.choice((">", ">=", *OPS))
    bound: float = rnd.choice((0, 1, 2, 3, 4, 6))
    if agg == "rate":
        bound = bound / over
    elif agg == "ratio":
        bound = rnd.choice((0.2, 0.5, 0.8))
    elif agg in ("last", "sum", "avg", "min", "max", "quantile"):
        bound = rnd.choice((2, 5, 8, 15))
    lines = [
        f"- alert: R{i}",
        f"  logs: {{match: {match}}}",
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
    if agg == "count" and match == MATCH and rnd.random() < 0.4:
        lines.append("  weight: n")
    if agg == "absent" and rnd.random() < 0.3:  # every line of the source (LogRule.touch)
        lines[1] = "  logs: {}"
        lines[4] = f"  by: {rnd.choice(('[source]', '[]'))}"
    if agg == "absent" and "[]" not in lines[4] and rnd.random() < 0.7:
        lines.append(f"  forget_after: {rnd.choice((30, 100, 500))}s")
    if agg in UNBOUND:
        lines = [ln for ln in lines if "threshold" not in ln]
    elif rnd.random() < resolves:  # (one that overlaps the threshold is refused at load)
        fires = Threshold.parse(f"{op} {bound}")
        apart = [
            t
            for t in ("< 1", "<= 2", "< 3", "> 9", ">= 25", "== 0")
            if Threshold.parse(t).overlap(fires) is None
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
    v = rnd.choice((1, 3, 6, 9, 12, 20, "-4", "nan", "x"))
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


def same(got: Any, want: Any) -> bool:
    """Equal, or written alike (a NaN read from a line is not equal to itself)."""
    return bool(got == want) or repr(got) == repr(want)


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
        assert same(got, want), (seed, step, rules)
        assert not swept._rule_errors and not any(g.errors for g in swept._groups)
        seen += len(got)
        if rnd.random() < 0.03:  # a restart (both restored from their snapshot) or a reload
            snaps = swept.snapshot(), full.snapshot()
            assert same(snaps[0], snaps[1]), (seed, step, rules)
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
            assert same(windows(swept), windows(full)), (seed, step, rules)
            assert same(swept.alerts(), full.alerts()), (seed, step, rules)
    assert same(windows(swept), windows(full)), (seed, rules)
    assert same(swept.alerts(), full.alerts())
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


def test_the_random_rules_take_every_way() -> None:
    """The random rules sweep quietly, file every key, look at a lazy rule's updated keys, and
    file an absent rule's keys by time (a guard on the generator above)."""
    kinds = {
        None if r.sweep is None else (type(r.sweep).__name__, r.sweep.quiet, r.sweep.lazy)
        for seed in range(60)
        for r in pair(random_rules(random.Random(seed)))[0]._log_rules
    }
    assert kinds == {
        ("Sweep", True, False),
        ("Sweep", False, False),
        ("Sweep", False, True),
        ("AbsentSweep", False, False),
    }


def one_kind(aggregate: str, op: str) -> Callable[[random.Random], str]:
    """`random_rules`, every rule of this aggregate under this operator."""

    def make(rnd: random.Random) -> str:
        rules = "\n".join(
            random_rule(rnd, i, aggregate, op, rnd.choice((MATCH, BATCH_MATCH)), 0.5)
            for i in range(3)
        )
        rules = "\n".join("      " + ln for ln in rules.splitlines())
        return f"groups:\n  - name: g\n    interval: {rnd.choice((5, 10))}s\n    rules:\n{rules}\n"

    return make


@pytest.mark.parametrize(
    ("aggregate", "op"),
    [(a, op) for a in NEEDS if a not in UNBOUND for op in OPS] + [(a, "") for a in UNBOUND],
)
def test_each_aggregate_and_operator_sweeps_as_evaluating_every_key(
    aggregate: str, op: str
) -> None:
    """Every aggregate a tick sweeps, under every operator, with and without a
    resolve_threshold: lines of older times, NaN values, clock steps back, evictions (spike
    and absent, which have no threshold: more runs)."""
    make = one_kind(aggregate, op)
    transitions = 0
    for seed in range(16 if aggregate in UNBOUND else 4):
        transitions += run(seed, 90, True, make)[0]
    assert transitions > 0
    assert all(r.sweep is not None for r in pair(make(random.Random(0)))[0]._log_rules)


@pytest.mark.parametrize(
    ("aggregate", "threshold", "resolve", "expected"),
    [
        ("count", ">= 5", None, "quiet"),
        ("rate", "> 0.5", None, "quiet"),
        ("distinct", ">= 3", None, "quiet"),
        ("change", "> 0", None, "quiet"),
        ("last", "< 3", None, "quiet"),  # the value stays, or is gone: any threshold
        ("count", "< 5", None, "every"),  # a falling count crosses it
        ("count", "!= 0", None, "every"),
        ("sum", "> 5", None, "every"),
        ("max", "> 5", None, "every"),  # (a NaN in a line makes max non-monotone)
        ("ratio", "> 0.5", None, "every"),
        ("count", ">= 5", "< 1", "quiet"),
        ("count", ">= 5", "< 5", "quiet"),
        ("count", ">= 5", "<= 5", "every"),  # 5 resolves while the threshold holds
        ("count", "> 5", "<= 5", "quiet"),
        ("count", ">= 5", "> 9", "every"),
        ("last", "< 3", "< 1", "every"),
        ("quantile", "> 5", None, "every"),  # (its updated keys too: evaluated at ticks only)
        ("spike", None, None, "every"),  # (buckets cross the middle of its span too)
        ("absent", None, None, "every"),  # (alerter.rules.absentsweep)
        ("new_value", None, None, "full"),  # (its own tables)
    ],
)
def test_which_rules_sweep(
    aggregate: str, threshold: str | None, resolve: str | None, expected: str
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
        threshold=Threshold.parse(threshold) if threshold else None,
        resolve_threshold=Threshold.parse(resolve) if resolve else None,
    )
    assert ("full" if not sweeps(rule) else "quiet" if quiet(rule) else "every") == expected
