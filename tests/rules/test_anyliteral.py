"""AnyLiteralScan (rules/plans/anyliteral.py): a rule whose matches share no literal but each
hold one of a few is judged on the lines holding one, with the same result as every line."""

from __future__ import annotations

import random
import re

import pytest

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.plans import AnyLiteralScan, plan_for
from alerter.rules.plans.anyliteral import any_literals, line_starts
from alerter.rules.prefilter import rare_chars
from tests.rules.helpers import engine


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"(?:abcd|efgh)xyz", ("abcd", "efgh")),
        (r"^(?:pre )?(?:abcd(?P<a>\d+)|x+efgh)", ("abcd", "efgh")),
        (r"(?:abcd)?efgh", ("efgh",)),
        (r"(?:abcd|efgh)+ijklmnop", ("ijklmnop",)),
        (r"(?:abcd|ef)", None),  # a literal too short
        (r"(?:abcd|efgh)?", None),  # optional
        (r"(?i:abcd)|efgh", None),  # either case
        (r"(?i)abcd|efgh", None),
        (r"(?:abcd|[xy]+)", None),  # an alternative without one
    ],
)
def test_any_literals(pattern: str, literals: tuple[str, ...] | None) -> None:
    assert any_literals(re.compile(pattern)) == literals


RULE = """
groups:
  - name: g
    rules:
      - alert: A
        logs:
          match: '^(?:\\w+ )?(?:abcd (?P<ip>\\d+)|efgh (?P<ip2>\\d+) end)$'
        aggregate: count
        over: 10m
        threshold: "> 1000"
"""


def test_a_rule_without_one_literal_gets_the_scan_of_its_alternatives() -> None:
    (rule,) = load_rule_files([("t.yaml", RULE)], 15).rules()
    plan = plan_for(rule)
    assert isinstance(plan, AnyLiteralScan)
    assert plan.literals == ("abcd ", "efgh ")


def test_it_counts_what_judging_every_line_counts() -> None:
    rnd = random.Random(13)
    words = ["abcd 1", "efgh 2 end", "efgh 3", "x abcd 4", "abcd x", "zz", "", "abcd efgh 5 end"]
    for _ in range(200):
        lines = [
            " ".join(rnd.choices(words, k=rnd.randint(1, 2))) for _ in range(rnd.randint(1, 9))
        ]
        whole, each = engine(RULE), engine(RULE)
        whole.process(LogBatch.of_events("s", 0, [LogEvent(0, "s", x, {}) for x in lines]), 0)
        for x in lines:
            each.process(LogBatch.of_events("s", 0, [LogEvent(0, "s", x, {})]), 0)
        assert (
            _count(whole)
            == _count(each)
            == sum(1 for x in lines if re.search(r"^(?:\w+ )?(?:abcd \d+|efgh \d+ end)$", x))
        ), lines


def _count(e: Engine) -> int:
    keys = e.snapshot()["rules"]["g/0/A"]["window"]["keys"]
    return sum(sum(w[0][1::2]) for _k, w in keys)


def _plan(match: str) -> str:
    text = f"""
groups:
  - name: g
    rules:
      - alert: A
        logs: {{match: '{match}', where: {{level: error}}}}
        aggregate: count
        over: 10m
        threshold: "> 1"
"""
    return plan_for(load_rule_files([("t.yaml", text)], 15).rules()[0]).label


def test_it_is_preferred_to_a_weaker_literal_every_match_holds() -> None:
    # ` from ` is in every match, but `Failed ` or `Invalid user ` finds fewer lines
    assert _plan(r"(?:Failed \w+|Invalid user) \S+ from \S+$") == "AnyLiteralScan(2)"
    # a rarer literal in every match wins over the alternatives
    assert _plan(r"(?:ab c|de f)\S+ Connection refused$") == "LiteralScan"


def test_line_starts_with_a_shared_cache_are_those_of_each_search_alone() -> None:
    """Rules searching a batch for the same literal share its line starts (`Pass.starts`):
    whatever order the rules come in, each gets the lines its own search finds."""
    rng = random.Random(7)
    words = ["Failed ", "nvalid user", "Connection ", "PAM: ", "zzzz"]
    for _ in range(200):
        text = "\n".join(
            " ".join(rng.choice([*words, "x", "y z", ""]) for _ in range(rng.randint(0, 4)))
            for _ in range(rng.randint(0, 30))
        )
        cache: dict[str, list[int]] = {}
        for _ in range(4):
            lits = tuple(rng.sample(words, rng.randint(1, 3)))
            rare = tuple(map(rare_chars, lits))
            want = sorted(
                {
                    text.rfind("\n", 0, m.start()) + 1
                    for w in lits
                    for m in re.finditer(re.escape(w), text)
                }
            )
            assert line_starts(text, lits, rare) == want
            assert line_starts(text, lits, rare, cache=cache) == want
            # a literal the batch is told to lack ends at once, in the cache too
            assert line_starts(text, lits, rare, frozenset(lits)) == []
