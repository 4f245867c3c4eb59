"""The daemon counts the parse errors of the lines its rules looked at (lines are parsed only
then), once the engine is done with their batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alerter.runtime.daemon import Daemon
from alerter.runtime.metrics import Metrics
from alerter.testing import daemon_config, running_daemon
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration

# Keyed by a group of its own regex: this rule never looks at a line's parsed fields.
# `where` reads the parsed `level`: the lines holding "timeout" are parsed, and only those.
RULES = """
groups:
  - name: app
    rules:
      - alert: ByGroup
        logs: {source: app, match: 'ERROR (?P<code>\\d+)'}
        aggregate: count
        over: 5m
        by: [code]
        threshold: ">= 2"
      - alert: Timeouts
        logs: {source: app, match: 'timeout', where: {level: error}}
        aggregate: count
        over: 5m
        threshold: ">= 2"
"""


@pytest.fixture
def daemon(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[tuple[Daemon, Metrics]]:
    (tmp_path / "app.log").write_text("")
    cfg = daemon_config(
        tmp_path,
        RULES,
        f"""
collectors:
  - name: app
    type: file
    paths: ["{tmp_path}/app.log"]
    start_at: beginning
    parser: {{type: regex, pattern: '^level=(?P<level>[a-z]+) '}}
notifiers:
  - {{name: hook, type: webhook, url: "{http_receiver.url}/hook"}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s}}
""",
    )
    metrics = Metrics(CollectorRegistry())
    with running_daemon(cfg, metrics=metrics) as d:
        yield d, metrics


def test_parse_errors_are_counted_for_the_lines_rules_looked_at(
    daemon: tuple[Daemon, Metrics], tmp_path: Path
) -> None:
    d, metrics = daemon
    lines = [
        "level=error ERROR 500 upstream",  # parses; ByGroup reads only its regex group
        "garbage ERROR 500 again",  # does not parse, but no rule looks at its fields
        "level=error db timeout",  # Timeouts: parsed, matches
        "no level: timeout",  # Timeouts: parsed, a parse error
        "?? timeout too",  # Timeouts: parsed, a parse error
        "level=info fine",
        "more garbage",  # no rule looks at it
        "level=error timeout again",  # Timeouts: parsed, fires
    ]
    with (tmp_path / "app.log").open("a") as f:
        f.write("".join(x + "\n" for x in lines))

    def sample(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, {"collector": "app", **labels}) or 0.0

    wait_for(lambda: sample("alerter_events_total") == len(lines), timeout=15)
    # (counted before the events: final once every line is counted)
    assert sample("alerter_events_dropped_total", reason="parse_error") == 2
    firing = {a.labels["alertname"] for a in d.alerts() if a.state == "firing"}
    assert firing == {"ByGroup", "Timeouts"}
    assert all(r["health"] == "ok" for g in d.rule_health() for r in g["rules"])
