"""Every aggregate of the DESIGN table, for log rules and metric rules."""

from __future__ import annotations

import pytest

from alerter.core.events import STALE_NAN, LogEvent
from alerter.rules.engine import Engine
from tests.rules.helpers import engine, log, logs, rule, sample, states, values

# --- log rules ----------------------------------------------------------------------------


def test_log_rate_is_events_per_second() -> None:
    e = engine(rule("logs: {match: hit}\naggregate: rate\nover: 10s\nthreshold: '>= 0.5'"))
    for t in range(4):
        assert log(e, t, "hit") == []
    assert states(log(e, 4, "hit")) == [("A", "firing")]
    assert e.alerts()[0].value == 0.5


@pytest.mark.parametrize(
    ("agg", "expected"), [("sum", 60.0), ("avg", 20.0), ("min", 5.0), ("max", 40.0), ("last", 15.0)]
)
def test_log_field_statistics(agg: str, expected: float) -> None:
    e = engine(
        rule(
            f"logs: {{match: 'took (?P<ms>\\S+)ms'}}\naggregate: {agg}\nfield: ms\n"
            "over: 1m\nthreshold: '> -1'"
        )
    )
    for t, ms in enumerate(["5", "40", "oops", "15"]):
        log(e, t, f"took {ms}ms")
    assert e.alerts()[0].value == expected


def test_log_field_from_parsed_fields() -> None:
    e = engine(rule("logs: {}\naggregate: max\nfield: bytes\nover: 1m\nthreshold: '> 100'"))
    assert log(e, 0, "x", fields={"bytes": "50"}) == []
    assert states(log(e, 1, "x", fields={"bytes": "500"})) == [("A", "firing")]


def test_log_quantile_interpolates_like_promql() -> None:
    e = engine(
        rule(
            "logs: {match: 't=(?P<t>\\d+)'}\naggregate: quantile\nq: 0.9\nfield: t\n"
            "over: 1m\nthreshold: '>= 0'"
        )
    )
    for i in range(1, 11):
        assert log(e, i, f"t={i}") == []  # quantiles are evaluated at the group interval
    assert states(e.evaluate(10)) == [("A", "firing")]
    assert e.alerts()[0].value == pytest.approx(9.1)


def test_log_distinct_counts_values_per_key() -> None:
    e = engine(
        rule(
            "logs: {match: 'user=(?P<user>\\w+) ip=(?P<ip>\\S+)'}\naggregate: distinct\n"
            "field: user\nby: [ip]\nover: 1m\nthreshold: '>= 3'"
        )
    )
    for u in ("a", "b", "a", "c"):
        log(e, 0, f"user={u} ip=1")
    log(e, 0, "user=z ip=2")
    assert values(e) == {(("ip", "1"),): 3.0}


def test_log_ratio_with_min_events() -> None:
    e = engine(
        rule(
            "logs: {match: '\" (?P<status>\\d{3}) '}\naggregate: ratio\n"
            "of: ['status=~\"5..\"']\nmin_events: 4\nover: 1m\nthreshold: '> 0.4'"
        )
    )
    assert log(e, 0, '"GET /" 500 1') == []  # 1/1 but below min_events
    assert log(e, 1, '"GET /" 200 1') == []
    assert log(e, 2, '"GET /" 503 1') == []
    assert states(log(e, 3, '"GET /" 200 1')) == [("A", "firing")]  # 2/4 = 0.5
    assert values(e) == {(): 0.5}
    assert states(log(e, 4, '"GET /" 200 1')) == [("A", "resolved")]  # 2/5 = 0.4


def test_log_absent_per_source_fires_after_silence_and_resolves_on_a_line() -> None:
    e = engine(rule("logs: {}\naggregate: absent\nby: [source]\nover: 5m\nforget_after: 1h"))
    log(e, 0, "x", source="a")
    log(e, 0, "x", source="b")
    e.tick(0)
    log(e, 200, "x", source="b")
    assert states(e.tick(300)) == [("A", "firing")]
    assert values(e) == {(("source", "a"),): 300.0}
    assert states(log(e, 310, "back", source="a")) == [("A", "resolved")]
    # a key silent past forget_after is forgotten (its alert resolved)
    out = e.tick(310 + 300)
    assert sorted(a.labels["source"] for a in e.alerts()) == ["a", "b"] and len(out) == 2
    out = e.tick(200 + 3600)
    assert states(out) == [("A", "resolved")] and out[0].alert.labels["source"] == "b"


def test_log_absent_without_by_counts_from_the_start() -> None:
    e = engine(rule("logs: {match: heartbeat}\naggregate: absent\nover: 1m"))
    e.tick(1000)
    assert e.evaluate(1059) == []
    assert states(e.evaluate(1060)) == [("A", "firing")]


def test_log_spike_compares_with_the_previous_window() -> None:
    e = engine(rule("logs: {match: req}\naggregate: spike\nover: 1m\nfactor: 3\nmin_count: 5"))
    e.tick(0)
    for t in range(60, 120, 20):
        log(e, t, "req")  # 3 in what will be the previous window
    for t in range(160, 168):
        log(e, t, "req")
    assert e.evaluate(168) == []  # 8 < 3x3
    log(e, 168, "req")  # 9 = 3x in the current one
    out = e.evaluate(169)
    assert states(out) == [("A", "firing")]
    assert out[0].alert.value == 3.0


def test_log_spike_does_not_fire_before_a_previous_window_was_seen() -> None:
    e = engine(rule("logs: {match: req}\naggregate: spike\nover: 1m\nfactor: 3\nmin_count: 5"))
    e.tick(0)
    assert [t for _ in range(50) for t in log(e, 10, "req")] == []


def test_log_new_value_fires_once_and_resolves_after_over() -> None:
    e = engine(
        rule(
            "logs: {match: 'login (?P<user>\\w+) from (?P<ip>\\S+)'}\n"
            "aggregate: new_value\nfield: ip\nby: [user]\nover: 5m\nlookback: 1d"
        )
    )
    out = log(e, 0, "login bob from 1.1.1.1")
    assert states(out) == [("A", "firing")]
    assert out[0].alert.labels["ip"] == "1.1.1.1" and out[0].alert.labels["user"] == "bob"
    assert log(e, 10, "login bob from 1.1.1.1") == []
    assert states(log(e, 20, "login bob from 2.2.2.2")) == [("A", "firing")]
    assert states(e.tick(301)) == [("A", "resolved")]
    assert states(e.tick(400)) == [("A", "resolved")]
    assert log(e, 500, "login bob from 1.1.1.1") == []  # seen within lookback


def test_log_new_value_keeps_what_it_has_seen_across_a_reload() -> None:
    text = rule(
        "logs: {match: 'login (?P<user>\\w+) from (?P<ip>\\S+)'}\n"
        "aggregate: new_value\nfield: ip\nby: [user]\nover: 5m\nlookback: 1d"
    )
    e = engine(text)
    log(e, 0, "login bob from 1.1.1.1")
    reloaded = engine(text)
    reloaded.take_over(e, 10)  # the same rule: its tables taken as they are
    assert [a.labels["ip"] for a in reloaded.alerts()] == ["1.1.1.1"]
    assert log(reloaded, 10, "login bob from 1.1.1.1") == []  # seen: not new
    assert reloaded.tick(100) == []  # still new: firing until `over` has passed
    assert states(reloaded.tick(301)) == [("A", "resolved")]


def test_log_change_fires_when_a_field_differs_from_the_previous_event() -> None:
    e = engine(
        rule(
            "logs: {match: 'version=(?P<v>\\S+) host=(?P<h>\\S+)'}\naggregate: change\n"
            "field: v\nby: [h]\nover: 10m"
        )
    )
    assert log(e, 0, "version=1 host=a") == []
    assert log(e, 1, "version=1 host=a") == []
    assert log(e, 1, "version=2 host=b") == []  # first value of key b
    assert states(log(e, 2, "version=2 host=a")) == [("A", "firing")]
    assert e.evaluate(2 + 600) == []  # the bucket [0s, 5s) leaves the window at 605s
    assert states(e.evaluate(2 + 603)) == [("A", "resolved")]


def test_window_memory_is_bounded_by_buckets_not_events() -> None:
    e = engine(rule("logs: {match: hit}\naggregate: count\nover: 10m\nthreshold: '> 1e9'"))
    batch = [LogEvent(0, "s", "hit")] * 1000
    for t in range(0, 1200):
        logs(e, t, batch)
    ((_, dump),) = e.snapshot()["rules"]["g/0/A"]["window"]["keys"]
    buckets = dump[0]
    assert len(buckets) // 2 <= 121
    assert sum(buckets[1::2]) == pytest.approx(600_000, rel=0.01)


# --- metric rules -------------------------------------------------------------------------


def feed(
    e: Engine,
    name: str,
    series: dict[str, list[float]],
    step: float = 15,
    label: str = "instance",
    **fixed: str,
) -> None:
    n = max(len(v) for v in series.values())
    for i in range(n):
        for key, vals in series.items():
            if i < len(vals):
                sample(e, i * step, name, vals[i], **{label: key}, **fixed)
        e.tick(i * step)


@pytest.mark.parametrize(
    ("agg", "expected"),
    [("avg", 2.5), ("min", 1.0), ("max", 4.0), ("sum", 10.0), ("last", 4.0), ("count", 4.0)],
)
def test_metric_over_time_per_series(agg: str, expected: float) -> None:
    e = engine(rule(f"metric: 'load{{job=\"x\"}}'\naggregate: {agg}\nover: 1m\nthreshold: '> -1'"))
    feed(e, "load", {"a": [9, 1, 2, 3, 4]}, job="x")
    assert values(e) == {(("instance", "a"), ("job", "x")): expected}


def test_metric_selector_filters_series() -> None:
    e = engine(
        rule(
            'metric: \'load{job=~"x|y", env!="dev"}\'\naggregate: last\nover: 1m\n'
            "threshold: '> 0'"
        )
    )
    for job, env in (("x", "prod"), ("y", "dev"), ("z", "prod")):
        sample(e, 0, "load", 1, job=job, env=env)
    e.tick(0)
    assert list(values(e)) == [(("env", "prod"), ("job", "x"))]


def test_metric_by_combines_series() -> None:
    e = engine(
        rule("metric: cpu\naggregate: avg\nover: 1m\nby: [host]\ncombine: max\nthreshold: '> 0'")
    )
    feed(e, "cpu", {"0": [0.2, 0.4], "1": [0.8, 0.8]}, label="cpu", host="h")
    assert values(e) == {(("host", "h"),): 0.8}
    e2 = engine(rule("metric: cpu\naggregate: last\nover: 1m\nby: [host]\nthreshold: '> 0'"))
    feed(e2, "cpu", {"0": [0.2, 0.4], "1": [0.8, 0.8]}, label="cpu", host="h")
    assert values(e2) == {(("host", "h"),): pytest.approx(1.2)}


def test_metric_rate_and_increase_are_reset_aware() -> None:
    e = engine(rule("metric: reqs_total\naggregate: rate\nover: 1m\nthreshold: '> 0'"))
    feed(e, "reqs_total", {"a": [0, 15, 30, 5, 20]})  # reset after 30
    assert values(e) == {(("instance", "a"),): pytest.approx(35 / 45)}
    e = engine(rule("metric: reqs_total\naggregate: increase\nover: 1m\nthreshold: '> 0'"))
    feed(e, "reqs_total", {"a": [0, 15, 30, 45, 60]})
    assert values(e) == {(("instance", "a"),): pytest.approx(60)}


def test_metric_quantile_distinct_and_change() -> None:
    e = engine(rule("metric: t\naggregate: quantile\nq: 0.5\nover: 2m\nthreshold: '> 0'"))
    feed(e, "t", {"a": [1, 2, 3, 10]})
    assert values(e) == {(("instance", "a"),): 2.5}
    e = engine(
        rule(
            "metric: v\naggregate: distinct\nfield: version\nby: [job]\nover: 2m\nthreshold: '> 1'"
        )
    )
    sample(e, 0, "v", 1, job="j", version="1.0", instance="a")
    sample(e, 0, "v", 1, job="j", version="1.1", instance="b")
    e.tick(0)
    assert values(e) == {(("job", "j"),): 2.0}
    e = engine(rule("metric: boot_time\naggregate: change\nover: 2m"))
    feed(e, "boot_time", {"a": [100, 100, 200]})
    assert values(e) == {(("instance", "a"),): 1.0}


def test_metric_ratio_of_matching_series() -> None:
    e = engine(
        rule(
            "metric: http_total\naggregate: ratio\nof: ['code=~\"5..\"']\nby: [job]\n"
            "over: 1m\nthreshold: '> 0.05'"
        )
    )
    for i in range(3):
        sample(e, i * 15, "http_total", i * 90, code="200", job="web")
        sample(e, i * 15, "http_total", i * 10, code="500", job="web")
        e.tick(i * 15)
    assert values(e) == {(("job", "web"),): pytest.approx(0.1)}


def test_metric_absent_without_by_uses_the_selector_labels() -> None:
    e = engine(rule("metric: 'up{job=\"node\"}'\naggregate: absent\nover: 1m"))
    sample(e, 0, "up", 1, job="node")
    e.tick(0)
    assert e.evaluate(59) == []
    out = e.evaluate(60)
    assert states(out) == [("A", "firing")]
    assert dict(out[0].alert.labels) == {"alertname": "A", "job": "node"}
    sample(e, 70, "up", 1, job="node")
    assert states(e.evaluate(75)) == [("A", "resolved")]


def test_metric_stale_marker_ends_the_series() -> None:
    e = engine(rule("metric: x\naggregate: last\nover: 30s\nthreshold: '> 0'"))
    feed(e, "x", {"a": [1, 1, STALE_NAN, STALE_NAN, STALE_NAN]})
    assert values(e) == {}


def test_metric_predict_extrapolates_the_trend() -> None:
    e = engine(rule("metric: used\naggregate: predict\nover: 10m\nahead: 1h\nthreshold: '>= 1'"))
    feed(e, "used", {"/": [0.5 + 0.001 * i for i in range(20)]}, label="mountpoint")
    assert e.alerts() == []  # +0.004/min: 0.519 + 0.24 in an hour
    e = engine(rule("metric: used\naggregate: predict\nover: 10m\nahead: 1h\nthreshold: '>= 1'"))
    feed(e, "used", {"/": [0.5 + 0.01 * i for i in range(20)]}, label="mountpoint")
    assert [a.labels["mountpoint"] for a in e.alerts()] == ["/"]


def test_metric_spike_compares_averages_of_the_two_halves() -> None:
    e = engine(rule("metric: conns\naggregate: spike\nover: 1m\nfactor: 2\ndirection: both"))
    feed(e, "conns", {"a": [10, 10, 10, 10, 10, 30, 30, 30, 30]})
    assert values(e) == {(("instance", "a"),): 3.0}
