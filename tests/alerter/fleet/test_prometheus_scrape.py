"""A real Prometheus (Debian's 2.42) scrapes two alerter daemons (two processes, state dirs,
ports; `host` labels from the scrape config) and answers PromQL over the log-derived counter:
the totals exactly, and `rate` per host and status in the proportions the lines were written."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.alerter.fleet.procs import Host, Server, fleet, prometheus
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: nginx
    metrics:
      - name: nginx_http_requests_total
        type: counter
        help: HTTP requests by status, from the access log
        logs: {source: app, match: '" (?P<status>\\d{3}) '}
        by: [status]
"""


def requests_of(status: int, n: int) -> str:
    return f'127.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" {status} 5\n' * n


def query(p: Server, q: str, **params: Any) -> dict[tuple[str, ...], float]:
    """An instant query's result: by the values of its labels (sorted by name), as floats."""
    body = p.get("/api/v1/query", query=q, **params)
    assert body["status"] == "success", body
    return {
        tuple(v for _, v in sorted(r["metric"].items())): float(r["value"][1])
        for r in body["data"]["result"]
    }


def own_series(h: Host) -> str:
    text: str = requests.get(f"{h.url}/metrics", timeout=5).text
    return text


def serves_both_statuses(h: Host) -> bool:
    return own_series(h).count("nginx_http_requests_total{") == 2


# the first lines, then the ones written while Prometheus scrapes: per host and status each
# series grows by ten times its first value, so Prometheus's extrapolation (limited at the
# counter's zero, which depends on first / growth) is the same for the two series of a host,
# and their rates stand exactly as their growths
FIRST = {("a", 200): 3, ("a", 500): 1, ("b", 200): 1, ("b", 500): 4}


def test_prometheus_queries_both_hosts_log_metrics(tmp_path: Path) -> None:
    with fleet(tmp_path, RULES, ("a", "b")) as hosts:
        for h in hosts:
            h.write("".join(requests_of(s, n) for (name, s), n in FIRST.items() if name == h.name))
        for h in hosts:  # in the daemons before Prometheus first scrapes them
            wait_for(partial(serves_both_statuses, h))
        targets = {h.name: f"127.0.0.1:{h.port}" for h in hosts}
        with prometheus(tmp_path, targets) as p:

            def scraped_twice() -> bool:
                got = query(p, "count_over_time(nginx_http_requests_total[1m])")
                return len(got) == 4 and min(got.values()) >= 2

            wait_for(scraped_twice, timeout=30)
            for h in hosts:
                h.write(
                    "".join(
                        requests_of(s, 10 * n) for (name, s), n in FIRST.items() if name == h.name
                    )
                )
            totals = {(h, str(s)): 11.0 * n for (h, s), n in FIRST.items()}
            wait_for(
                lambda: query(p, "sum by (host, status) (nginx_http_requests_total)") == totals,
                timeout=30,
            )
            by_status = query(p, "sum by (status) (nginx_http_requests_total)")
            assert by_status == {("200",): 44.0, ("500",): 55.0}

            rates = query(p, "sum by (host, status) (rate(nginx_http_requests_total[1m]))")
            assert set(rates) == set(totals)
            assert all(v > 0 for v in rates.values())
            assert rates[("a", "200")] / rates[("a", "500")] == pytest.approx(3.0, rel=1e-9)
            assert rates[("b", "500")] / rates[("b", "200")] == pytest.approx(4.0, rel=1e-9)
            # the query of the issue, summed over the fleet
            fleet_rate = query(p, "sum by (status) (rate(nginx_http_requests_total[1m]))")
            assert set(fleet_rate) == {("200",), ("500",)}
            assert all(v > 0 for v in fleet_rate.values())
            assert query(p, "sum by (host) (up)") == {("a",): 1.0, ("b",): 1.0}
