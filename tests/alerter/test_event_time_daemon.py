"""The daemon places lines at their own time (DESIGN "Event time"): `start_at: beginning` on
an old log fires nothing for attacks long over, counts those lines as late, and still counts
the recent ones with the fresh lines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerter.runtime.daemon import Daemon
from alerter.testing import daemon_config, running_daemon
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: ssh
    interval: 1s
    rules:
      - alert: Brute
        logs: {source: auth, match: 'Failed password for \\S+ from (?P<ip>\\S+)'}
        aggregate: count
        by: [ip]
        over: 10m
        threshold: ">= 5"
"""


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def failures(times: list[float], ip: str) -> str:
    return "".join(
        f"{stamp(t)} sshd[7]: Failed password for root from {ip} port 22 ssh2\n" for t in times
    )


@pytest.fixture
def run_daemon(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[Daemon]:
    cfg = daemon_config(
        tmp_path,
        RULES,
        f"""
collectors:
  - name: auth
    type: file
    paths: ["{tmp_path}/auth.log"]
    start_at: beginning
    parser:
      type: regex
      pattern: '^(?P<time>\\S+) (?P<message>.*)$'
      time_field: time
      time_format: rfc3339
notifiers:
  - {{name: hook, type: webhook, url: "{http_receiver.url}/hook"}}
route: {{receiver: hook, group_wait: 0s, group_interval: 1s}}
""",
    )
    now = time.time()
    year_ago = now - 365 * 86400
    backlog = [year_ago + 48 * i for i in range(300)]  # 300 failures over four hours
    (tmp_path / "auth.log").write_text(
        failures(backlog, "198.51.100.7")
        + failures([now - 1500 + i for i in range(6)], "203.0.113.9")  # 25 min ago: over
        + failures([now - 120 + i for i in range(3)], "203.0.113.9")  # inside the window
    )
    with running_daemon(cfg) as d:
        yield d


def sample(d: Daemon, name: str) -> float:
    return d.metrics.registry.get_sample_value(name, {"collector": "auth"}) or 0.0


def test_a_backlog_read_from_the_beginning_fires_only_for_what_is_recent(
    run_daemon: Daemon, tmp_path: Path
) -> None:
    d = run_daemon
    wait_for(lambda: sample(d, "alerter_events_total") >= 309, timeout=20)
    assert sample(d, "alerter_events_late_total") == 306  # the year-old and 25-minute-old lines
    evals = d.metrics.registry.get_sample_value
    key = ("alerter_rule_evaluation_duration_seconds_count", {"group": "ssh"})
    seen = evals(*key) or 0
    wait_for(lambda: (evals(*key) or 0) >= seen + 2, timeout=10)  # evaluated since
    assert d.alerts() == []  # read-time placement fired for both addresses here
    with (tmp_path / "auth.log").open("a") as f:
        f.write(failures([time.time(), time.time()], "203.0.113.9"))
    wait_for(lambda: [a.state for a in d.alerts()] == ["firing"], timeout=10)
    (alert,) = d.alerts()
    assert alert.labels["ip"] == "203.0.113.9"
    assert alert.value == 5  # the three recent lines and the two fresh ones
