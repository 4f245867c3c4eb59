"""Metric rules against what Prometheus does: increase/rate extrapolation, NaN values and
staleness markers, series that differ only in their name, spike's min_count."""

from __future__ import annotations

import math
import struct

import pytest

from alerter.core.events import STALE_NAN, is_stale
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from tests.rules.helpers import engine, rule, sample, values

# --- increase / rate: Prometheus's extrapolatedRate ---------------------------------------


def test_increase_of_a_new_series_is_not_extrapolated_below_zero() -> None:
    """A counter born inside the window going 0 -> 3 increased by 3, not 3/15s x 1h."""
    e = engine(rule("metric: errors_total\naggregate: increase\nover: 1h\nthreshold: '> 2'"))
    sample(e, 1000, "errors_total", 0, instance="a")
    sample(e, 1015, "errors_total", 3, instance="a")
    e.evaluate(1015)
    assert values(e) == {(("instance", "a"),): pytest.approx(3.0)}


def test_increase_extrapolates_at_most_half_an_interval_past_the_samples() -> None:
    """Samples 10 -> 20 over 30s in a 1h window, ending 300s before now: each edge is
    extrapolated by half the average interval (7.5s), not to the window's edges; the start
    stays above zero (10 / (10/30s) = 30s to zero, more than 7.5s)."""
    e = engine(rule("metric: c_total\naggregate: increase\nover: 1h\nthreshold: '> 0'"))
    for t, v in ((1000, 10), (1015, 15), (1030, 20)):
        sample(e, t, "c_total", v, instance="a")
    e.evaluate(1330)
    assert values(e) == {(("instance", "a"),): pytest.approx(10 * (30 + 7.5 + 7.5) / 30)}


def test_rate_is_the_extrapolated_increase_over_the_window() -> None:
    e = engine(rule("metric: c_total\naggregate: rate\nover: 1h\nthreshold: '> 0'"))
    sample(e, 1000, "c_total", 0, instance="a")
    sample(e, 1015, "c_total", 3, instance="a")
    e.evaluate(1015)
    assert values(e) == {(("instance", "a"),): pytest.approx(3 / 3600)}


def test_increase_of_a_steady_counter_covering_the_window_reaches_its_edges() -> None:
    e = engine(rule("metric: c_total\naggregate: increase\nover: 1m\nthreshold: '> 0'"))
    for i in range(9):  # 15s apart, +10 each, evaluated 5s after the last
        sample(e, 1000 + 15 * i, "c_total", 100 + 10 * i, instance="a")
    e.evaluate(1125)
    # in (1065, 1125]: samples at 1075..1120 (4), 30 over 45s; 10s to the start (< 16.5s),
    # 5s to the end: 30 x (45 + 10 + 5) / 45
    assert values(e) == {(("instance", "a"),): pytest.approx(40.0)}


# --- NaN: a value; only the stale marker's bit pattern is staleness ------------------------


def test_a_nan_value_is_a_sample_not_staleness() -> None:
    """A present series whose value is NaN (a gauge 0/0) is present: `absent` does not fire."""
    e = engine(rule("metric: 'ratio{job=\"x\"}'\naggregate: absent\nover: 1m"))
    for t in range(0, 121, 15):
        sample(e, t, "ratio", math.nan, job="x")
        assert e.evaluate(t) == []


def test_the_stale_marker_is_not_a_sample() -> None:
    e = engine(rule("metric: 'up{job=\"x\"}'\naggregate: absent\nover: 1m"))
    sample(e, 0, "up", 1, job="x")
    for t in range(15, 61, 15):
        sample(e, t, "up", STALE_NAN, job="x")
        e.evaluate(t)
    assert [a.labels["job"] for a in e.alerts()] == ["x"]


def test_the_stale_marker_has_prometheus_bit_pattern() -> None:
    assert struct.pack(">d", STALE_NAN).hex() == "7ff0000000000002"
    assert is_stale(STALE_NAN)
    assert not is_stale(math.nan)
    assert not is_stale(float("nan"))
    assert not is_stale(1.0)


# --- series that differ only in their name -------------------------------------------------


def test_series_differing_only_in_name_are_refused_not_merged() -> None:
    """Without `by`, an instance is a series' labels without its name (as an alert's labels
    are): two metrics with the same labels would be one instance, one of them silently lost.
    Prometheus refuses such a vector; so does the rule, with an error in its health."""
    e = engine(rule("metric: '{__name__=~\"a|b\", job=\"x\"}'\naggregate: last\nthreshold: '> 50'"))
    sample(e, 0, "a", 1, job="x")
    sample(e, 0, "b", 100, job="x")
    assert e.evaluate(0) == []
    (health,) = e.rule_health()[0]["rules"]
    assert health["health"] == "err"
    assert "same labelset" in health["lastError"]
    assert '{job="x"}' in health["lastError"]
    assert "a, b" in health["lastError"]


def test_series_of_several_names_with_other_labels_are_instances_apart() -> None:
    e = engine(rule("metric: '{__name__=~\"a|b\"}'\naggregate: last\nthreshold: '> 50'"))
    sample(e, 0, "a", 60, job="x")
    sample(e, 0, "b", 100, job="y")
    e.evaluate(0)
    assert values(e) == {(("job", "x"),): 60.0, (("job", "y"),): 100.0}
    assert e.rule_health()[0]["rules"][0]["health"] == "ok"


def test_by_combines_series_of_several_names() -> None:
    e = engine(rule("metric: '{__name__=~\"a|b\"}'\naggregate: last\nby: [job]\nthreshold: '> 50'"))
    sample(e, 0, "a", 1, job="x")
    sample(e, 0, "b", 100, job="x")
    e.evaluate(0)
    assert values(e) == {(("job", "x"),): 101.0}


# --- spike's min_count -----------------------------------------------------------------


def spike(e: Engine, prev: float, cur: float) -> None:
    for i in range(9):  # over 1m: samples 15s apart, the last four in the current window
        sample(e, i * 15, "conns", prev if i < 5 else cur, instance="a")
        e.tick(i * 15)


def test_metric_spike_min_count_defaults_to_1() -> None:
    """0.2 -> 0.8 is 4x, but below the default min_count 1, as the README says."""
    e = engine(rule("metric: conns\naggregate: spike\nover: 1m\nfactor: 2"))
    spike(e, 0.2, 0.8)
    assert e.alerts() == []
    e = engine(rule("metric: conns\naggregate: spike\nover: 1m\nfactor: 2"))
    spike(e, 2, 8)
    assert values(e) == {(("instance", "a"),): 4.0}


def test_metric_spike_honours_a_min_count_below_1() -> None:
    """A gauge of fractions (a ratio) can spike: a metric's min_count may be below 1."""
    e = engine(rule("metric: conns\naggregate: spike\nover: 1m\nfactor: 2\nmin_count: 0.5"))
    spike(e, 0.2, 0.8)
    assert values(e) == {(("instance", "a"),): pytest.approx(4.0)}


def test_spike_min_count_defaults_to_1_for_log_rules_too() -> None:
    (group,) = load_rule_files(
        [("t.yaml", rule("logs: {match: req}\naggregate: spike\nover: 1m\nfactor: 2"))], 15
    ).groups
    assert group.rules[0].min_count == 1.0
