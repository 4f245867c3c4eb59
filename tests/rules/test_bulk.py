"""The bulk passes (rules/bulk.py) answer with one typed summary each: Counted, Values,
NoMatch, or Unjudged when the pass cannot judge a batch."""

from __future__ import annotations

from alerter.rules.bulk import EMPTY_VALUE, NO_MATCH, BulkSpec, Counted, Unjudged, Values, summarize
from alerter.rules.windows import EXAMPLES
from tests.rules.helpers import engine

RULES = r"""
groups:
  - name: g
    rules:
      - alert: Ratio
        logs: {match: '" (?P<status>\d{3}) '}
        aggregate: ratio
        of: ['status=~"5.."']
        over: 10m
        threshold: "> 0.2"
      - alert: Count
        logs: {match: '" \d{3} '}
        aggregate: count
        over: 10m
        threshold: ">= 4"
      - alert: Took
        logs: {match: 'took(?: (?P<ms>\d+))?ms'}
        aggregate: quantile
        q: 0.5
        field: ms
        over: 10m
        threshold: "> 5"
"""


def specs() -> dict[str, BulkSpec]:
    return {r.rule.alert: r.bulk_spec for r in engine(RULES)._log_rules if r.bulk_spec is not None}


def test_a_count_pass_counts_lines_and_those_of_accepts() -> None:
    text = "\n".join(f'a "GET /" {s} 1' for s in (200, 502, 200, 503, 404))
    s = specs()
    assert summarize(s["Ratio"], text, {}) == Counted(5, 2, text.split("\n")[-EXAMPLES:])
    assert summarize(s["Count"], text, {}) == Counted(5, 0, text.split("\n")[-EXAMPLES:])


def test_a_pass_over_a_batch_without_a_match_says_so() -> None:
    s = specs()
    for name in ("Ratio", "Count", "Took"):
        assert summarize(s[name], "nothing\nhere", {}) is NO_MATCH


def test_a_values_pass_gives_the_values_in_order() -> None:
    text = "took 7ms\nx\ntook 3ms\ntook xms"
    got = summarize(specs()["Took"], text, {})
    assert got == Values([7.0, 3.0], ["took 7ms", "took 3ms"])


def test_a_values_pass_that_cannot_judge_the_batch_says_why() -> None:
    got = summarize(specs()["Took"], "took 7ms\ntookms", {})
    assert got is EMPTY_VALUE and isinstance(got, Unjudged) and "empty value" in got.why
