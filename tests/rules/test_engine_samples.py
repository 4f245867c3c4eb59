"""The engine's sample path: which rules select a series (remembered, but not for ever)."""

from __future__ import annotations

from alerter.core.events import Sample
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


def test_a_sample_is_placed_at_its_own_time_not_at_its_arrival() -> None:
    """A sample stamped (an exposition's timestamp) before the window counts for nothing."""
    e = engine(RULE)
    e.process_samples([Sample(0.0, "m", "up", {"job": "node"}, 0.0)], 100.0)
    assert e.evaluate(100.0) == []
    e.process_samples([Sample(90.0, "m", "up", {"job": "node"}, 0.0)], 100.0)
    assert [(a.labels["job"], a.value) for a in e.alerts()] == []
    e.evaluate(100.0)
    assert [(a.labels["job"], a.value) for a in e.alerts()] == [("node", 0.0)]


def test_a_timestamp_seen_again_is_not_another_sample() -> None:
    """An exporter's fixed timestamp scraped every 15s is one sample, as in Prometheus (and a
    sample older than the series' last is out of order: dropped)."""
    e = engine(RULE.replace("aggregate: last", "aggregate: count").replace('"< 1"', '"> 0"'))
    for now in (10.0, 25.0, 40.0):
        e.process_samples([Sample(5.0, "m", "up", {"job": "node"}, 1.0)], now)
    e.process_samples([Sample(3.0, "m", "up", {"job": "node"}, 1.0)], 45.0)
    e.evaluate(45.0)
    assert [a.value for a in e.alerts()] == [1.0]
