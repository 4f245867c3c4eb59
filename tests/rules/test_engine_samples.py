"""The engine's sample path: which rules select a series (remembered, but not for ever)."""

from __future__ import annotations

from tests.rules.helpers import engine, sample

RULE = """groups:
  - name: g
    rules:
      - alert: Down
        metric: up
        aggregate: last
        over: 1m
        threshold: "< 1"
"""


def test_series_gone_for_a_while_are_forgotten_by_the_engine() -> None:
    """Label churn (a new pod every scrape for two hours) must not grow the engine's memory
    of which rules select which series; a series still scraped keeps being evaluated."""
    e = engine(RULE)
    for i in range(480):
        t = i * 15.0
        sample(e, t, "requests_total", i, pod=f"p{i}")  # selected by no rule
        sample(e, t, "up", 1 if i < 470 else 0, job="node")  # down for the last 10
        e.tick(t)
    # (the engine's private cache: what a series selected by nothing costs it)
    assert len(e._by_series) <= 2 * 300 / 15 + 1
    assert [(a.labels["job"], a.value) for a in e.alerts()] == [("node", 0.0)]
