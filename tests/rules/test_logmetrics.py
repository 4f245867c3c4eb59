"""Log-derived metrics (rules/logmetrics.py): counter, gauge, histogram, by labels from regex
groups and parsed fields, max_series eviction, the text and line-by-line paths agreeing,
metric rules reading them by name, snapshot/restore, and the loader's checks."""

from __future__ import annotations

import io
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path

import pytest

from alerter.cli.rules import cmd_test
from alerter.core.events import LogBatch, LogEvent
from alerter.core.yamlsource import SourceError
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.logmetrics import Hist
from tests.rules.helpers import engine

NGINX = """
groups:
  - name: nginx
    metrics:
      - name: nginx_http_requests_total
        type: counter
        help: Requests by status
        logs: {source: nginx, match: '" (?P<status>\\d{3}) (?P<bytes>\\d+)'}
        by: [status]
        max_series: 3
      - name: nginx_bytes_total
        type: counter
        logs: {source: nginx, match: '" (?P<status>\\d{3}) (?P<bytes>\\d+)'}
        field: bytes
      - name: nginx_last_bytes
        type: gauge
        logs: {source: nginx, match: '" (?P<status>\\d{3}) (?P<bytes>\\d+)'}
        field: bytes
      - name: nginx_request_seconds
        type: histogram
        logs: {source: nginx, match: 'rt=(?P<rt>[0-9.]+)'}
        field: rt
        buckets: [0.1, 1, 5]
      - name: app_lines_total
        type: counter
        logs: {source: app}
        by: [user]
"""


def line(status: int, nbytes: int, rt: float) -> str:
    return f'1.2.3.4 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" {status} {nbytes} rt={rt}'


def feed(e: Engine, lines: list[str], source: str = "nginx", t: float = 100.0) -> None:
    e.process(LogBatch(source, t, None, lines=lines), t)


def series(e: Engine, name: str) -> Mapping[tuple[str, ...], float | Hist]:
    return next(s.series for s in e.log_metrics.states if s.metric.name == name)


def test_counter_gauge_histogram() -> None:
    e = engine(NGINX)
    feed(e, [line(200, 10, 0.05), line(404, 5, 0.5), line(200, 7, 2), "junk"])
    feed(e, [line(200, 1, 10)])
    assert series(e, "nginx_http_requests_total") == {("200",): 3.0, ("404",): 1.0}
    assert series(e, "nginx_bytes_total") == {(): 23.0}
    assert series(e, "nginx_last_bytes") == {(): 1.0}
    h = series(e, "nginx_request_seconds")[()]
    assert isinstance(h, Hist)
    assert h.counts == (1, 1, 1, 1) and h.sum == pytest.approx(12.55)
    assert e.log_metrics.value("nginx_request_seconds_bucket", {"le": "1.0"}) == 2.0
    assert e.log_metrics.value("nginx_request_seconds_count", {}) == 4.0


def test_by_field_and_no_regex() -> None:
    e = engine(NGINX)
    events = [LogEvent(1.0, "app", "x", {"user": "bob"}), LogEvent(1.0, "app", "y", {})]
    e.process(LogBatch.of_events("app", 1.0, events), 1.0)
    assert series(e, "app_lines_total") == {("bob",): 1.0, ("",): 1.0}


def test_max_series_evicts_least_recently_updated() -> None:
    e = engine(NGINX)
    feed(e, [line(200, 1, 1), line(301, 1, 1), line(404, 1, 1)])
    feed(e, [line(200, 1, 1)])  # 200 is now the most recent; 301 the oldest
    feed(e, [line(500, 1, 1)])
    st = next(s for s in e.log_metrics.states if s.metric.name == "nginx_http_requests_total")
    assert list(st.series) == [("404",), ("200",), ("500",)]
    assert st.evicted == 1


def test_text_and_line_paths_agree() -> None:
    lines = [line(s, n, 0.3) for s, n in [(200, 1), (503, 2), (200, 3)]] + ["a\nb"]
    one, other = engine(NGINX), engine(NGINX)
    feed(one, lines)  # a line holds a newline: no text, line by line
    feed(other, lines[:-1])
    for name in ("nginx_http_requests_total", "nginx_bytes_total", "nginx_request_seconds"):
        assert series(one, name) == series(other, name)


def test_metric_rule_reads_log_metric_by_name() -> None:
    e = engine(
        NGINX
        + """
    rules:
      - alert: ManyErrors
        metric: 'nginx_http_requests_total{status="503"}'
        aggregate: last
        threshold: ">= 2"
"""
    )
    feed(e, [line(503, 1, 1)])
    assert not [t for t in e.evaluate(101.0) if t.state == "firing"]
    feed(e, [line(503, 1, 1)], t=102.0)
    assert [t.alert.alertname for t in e.evaluate(102.0) if t.state == "firing"] == ["ManyErrors"]


def test_snapshot_restore_keeps_series() -> None:
    e = engine(NGINX)
    feed(e, [line(200, 4, 0.5)])
    again = engine(NGINX)
    again.restore(e.snapshot(), 200.0)
    assert series(again, "nginx_http_requests_total") == {("200",): 1.0}
    assert series(again, "nginx_request_seconds") == series(e, "nginx_request_seconds")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: x, type: counter, logs: {}}", "ends in _total"),
        ("{name: alerter_x_total, type: counter, logs: {}}", "alerter_ prefix"),
        ("{name: x, type: gauge, logs: {}}", "missing required key 'field'"),
        ("{name: x, type: histogram, logs: {}, field: v}", "missing required key 'buckets'"),
        ("{name: x, type: histogram, logs: {}, field: v, buckets: [2, 1]}", "strictly increasing"),
        ("{name: x_total, type: counter, logs: {}, buckets: [1]}", "only a histogram"),
        ("{name: x_total, type: counter}", "missing required key 'logs'"),
        ("{name: x_total, type: counter, logs: {}, by: [le, 'a-b']}", "not a valid label"),
        ("{name: x_total, type: summary, logs: {}}", "unknown value 'summary'"),
        ("{name: x_total, type: counter, logs: {}, max_series: 0}", "must be >= 1"),
    ],
)
def test_loader_reports_bad_metrics(entry: str, message: str) -> None:
    text = f"groups:\n  - name: g\n    metrics:\n      - {entry}\n"
    with pytest.raises(SourceError) as ei:
        load_rule_files([("m.yaml", text)], 15)
    assert message in str(ei.value)


def test_loader_reports_a_name_defined_twice() -> None:
    m = "{name: x_total, type: counter, logs: {}}"
    text = f"groups:\n  - name: a\n    metrics: [{m}]\n  - name: b\n    metrics: [{m}]\n"
    with pytest.raises(SourceError, match="defined twice"):
        load_rule_files([("m.yaml", text)], 15)


TEST_FILE = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - name: statuses
    input_logs:
      - source: nginx
        entries:
          - {at: 0s, line: '"GET / HTTP/1.1" 200 5 rt=0.05', repeat: 3, every: 10s}
          - {at: 30s, line: '"GET / HTTP/1.1" 503 1 rt=2'}
    promql_expr_test:
      - eval_time: 1m
        expr: nginx_http_requests_total
        exp_samples:
          - {labels: 'nginx_http_requests_total{status="200"}', value: 3}
          - {labels: 'nginx_http_requests_total{status="503"}', value: %s}
      - eval_time: 1m
        expr: 'nginx_request_seconds_bucket{le="1.0"}'
        exp_samples:
          - {labels: 'nginx_request_seconds_bucket{le="1.0"}', value: 3}
"""


@pytest.mark.parametrize(("value", "rc"), [("1", 0), ("2", 1)])
def test_alerter_test_asserts_log_metric_values(tmp_path: Path, value: str, rc: int) -> None:
    (tmp_path / "rules.yaml").write_text(NGINX)
    f = tmp_path / "m.test.yaml"
    f.write_text(TEST_FILE % value)
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(f)]), out) == rc, out.getvalue()
    if rc:
        assert "samples differ" in out.getvalue()
        assert "-- {'__name__': 'nginx_http_requests_total', 'status': '503'} 2" in out.getvalue()


FILTERED = """
groups:
  - name: g
    metrics:
      - name: app_errors_total
        type: counter
        logs: {source: app, match: 'code=(?P<code>\\w+) took=(?P<took>[0-9a-z.]+)', exclude: 'debug',
               where: ['user!="root"']}
        by: [code, user]
      - name: app_took_seconds
        type: histogram
        logs: {source: app, match: 'code=(?P<code>\\w+) took=(?P<took>[0-9a-z.]+)'}
        field: took
        buckets: [1, 2]
      - name: app_took_seconds_total
        type: counter
        logs: {source: app, match: 'code=(?P<code>\\w+) took=(?P<took>[0-9a-z.]+)'}
        by: [code]
        field: took
"""


def test_exclude_where_and_fields_read_line_by_line() -> None:
    e = engine(FILTERED)
    events = [
        LogEvent(1.0, "app", "code=500 took=1", {"user": "bob"}),
        LogEvent(1.0, "app", "code=500 took=1 debug", {"user": "bob"}),  # excluded
        LogEvent(1.0, "app", "code=404 took=1", {"user": "root"}),  # where
        LogEvent(1.0, "app", "code=404 took=3", {"user": "eve"}),
    ]
    e.process(LogBatch.of_events("app", 1.0, events), 1.0)
    assert series(e, "app_errors_total") == {("500", "bob"): 1.0, ("404", "eve"): 1.0}


def test_a_value_that_is_not_a_number_adds_nothing_on_either_path() -> None:
    lines = ["code=1 took=0.5", "code=1 took=abc", "code=2 took=1.5", "code=2 took=nan"]
    bulk, by_line = engine(FILTERED), engine(FILTERED)
    feed(bulk, lines, source="app")  # text: findall, then line by line on 'abc'
    feed(by_line, [*lines, "x\ny"], source="app")  # a line holds a newline: line by line
    for e in (bulk, by_line):
        h = series(e, "app_took_seconds")[()]
        assert isinstance(h, Hist) and h.counts == (1, 1, 0) and h.sum == 2.0
        assert series(e, "app_took_seconds_total") == {("1",): 0.5, ("2",): 1.5}
    numbers = engine(FILTERED)
    feed(numbers, ["code=1 took=0.5", "code=2 took=2", "code=2 took=7"], source="app")
    st = next(s for s in numbers.log_metrics.states if s.metric.name == "app_took_seconds")
    assert st.bulk is not None  # (a `re` regex starting with a literal: the bulk path)
    assert series(numbers, "app_took_seconds")[()] == Hist((1, 1, 1), 9.5)
