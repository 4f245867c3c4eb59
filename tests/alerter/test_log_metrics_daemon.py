"""The daemon exports the rule files' log-derived metrics on /metrics (HELP from the config,
the series the lines made), keeps them across a reload, and counts evicted series."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerter.runtime.daemon import Daemon
from alerter.testing import daemon_config, running_daemon
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: nginx
    metrics:
      - name: nginx_http_requests_total
        type: counter
        help: "Requests by status <from access.log>"
        logs: {source: nginx, match: '" (?P<status>\\d{3}) '}
        by: [status]
        max_series: 2
      - name: nginx_request_seconds
        type: histogram
        logs: {source: nginx, match: ' rt=(?P<rt>[0-9.]+)'}
        field: rt
        buckets: [0.1, 1]
"""


def access(status: int, rt: float) -> str:
    return f'127.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" {status} 5 rt={rt}\n'


def scrape(d: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = f"http://127.0.0.1:{d.server.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_log_metrics_on_metrics_endpoint(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    cfg = daemon_config(
        tmp_path,
        RULES,
        f"""
collectors:
  - {{name: nginx, type: file, paths: ["{log}"], start_at: beginning}}
""",
    )
    with running_daemon(cfg) as d:
        with log.open("a") as f:
            f.write(access(200, 0.05) + access(200, 0.5) + access(404, 3))
        key = ("nginx_http_requests_total", (("status", "200"),))
        wait_for(lambda: scrape(d).get(key) == 2.0, timeout=10)
        got = scrape(d)
        assert got[("nginx_http_requests_total", (("status", "404"),))] == 1.0
        assert got[("nginx_request_seconds_bucket", (("le", "0.1"),))] == 1.0
        assert got[("nginx_request_seconds_bucket", (("le", "1.0"),))] == 2.0
        assert got[("nginx_request_seconds_bucket", (("le", "+Inf"),))] == 3.0
        assert got[("nginx_request_seconds_sum", ())] == pytest.approx(3.55)
        url = f"http://127.0.0.1:{d.server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = r.read().decode()
        assert "# HELP nginx_http_requests_total Requests by status <from access.log>" in body
        assert "# TYPE nginx_request_seconds histogram" in body

        assert d.reload_and_wait(10)
        assert scrape(d)[key] == 2.0  # kept across the reload
        with log.open("a") as f:
            f.write(access(500, 0.2))  # a third status: past max_series 2, 200 goes
        evicted = ("alerter_log_metric_series_evicted_total", (("metric", key[0]),))
        wait_for(lambda: scrape(d).get(evicted) == 1.0, timeout=10)
        got = scrape(d)
        assert key not in got
        assert got[("nginx_http_requests_total", (("status", "500"),))] == 1.0
