"""The daemon with its real parts in-process: a file line fires, reload keeps the alert, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from alerter.runtime.daemon import Daemon
from alerter.testing import running_daemon
from tests.alerter.api.daemon_fixture import app_errors_rules
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration

RULES = app_errors_rules(2)


def write_config(tmp: Path, receiver: str, extra_rules: str = "") -> Path:
    (tmp / "rules.yaml").write_text(RULES + extra_rules)
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
global: {{state_dir: state, labels: {{env: test}}}}
server: {{listen: "127.0.0.1:0"}}
collectors:
  - {{name: app, type: file, paths: ["{tmp}/app.log"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{receiver}/hook"}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
"""
    )
    return cfg


@pytest.fixture
def daemon(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[Daemon]:
    (tmp_path / "app.log").write_text("")
    with running_daemon(write_config(tmp_path, http_receiver.url)) as d:
        yield d


def test_line_fires_webhook_and_reload_keeps_alert_without_renotifying(
    daemon: Daemon, tmp_path: Path, http_receiver: HTTPReceiver
) -> None:
    with (tmp_path / "app.log").open("a") as f:
        f.write("ERROR 500 one\nERROR 500 two\nERROR 404 once\n")
    first = http_receiver.wait(1)[0].json()
    assert first["status"] == "firing"
    assert [a["labels"]["code"] for a in first["alerts"]] == ["500"]
    assert first["alerts"][0]["annotations"]["summary"] == "2 errors with code 500"
    assert first["alerts"][0]["labels"]["env"] == "test" and "host" in first["alerts"][0]["labels"]

    # an unchanged rule keeps its alert across a reload: no resolve, no second notification
    write_config(
        tmp_path,
        http_receiver.url,
        extra_rules="      - {alert: Other, logs: {match: nope}, aggregate: count, over: 1m, threshold: '> 0'}\n",
    )
    assert daemon.reload()
    alerts = requests.get(f"http://127.0.0.1:{daemon.server.port}/api/v1/alerts", timeout=5).json()[
        "data"
    ]["alerts"]
    assert [(a["labels"]["alertname"], a["state"]) for a in alerts] == [("AppErrors", "firing")]
    with (tmp_path / "app.log").open("a") as f:
        f.write("ERROR 404 twice\n")  # a new alert in the same group: one more notification
    got = http_receiver.wait(2)
    assert len(got) == 2
    second = got[1].json()
    assert sorted(a["labels"]["code"] for a in second["alerts"]) == ["404", "500"]
    assert all(a["status"] == "firing" for a in second["alerts"])


def test_rule_evaluation_duration_is_recorded(daemon: Daemon) -> None:
    def count() -> float | None:
        return daemon.metrics.registry.get_sample_value(
            "alerter_rule_evaluation_duration_seconds_count", {"group": "app"}
        )

    wait_for(lambda: (count() or 0) >= 2, timeout=10)
    body = requests.get(f"http://127.0.0.1:{daemon.server.port}/api/v1/rules", timeout=5).json()
    assert [g["name"] for g in body["data"]["groups"]] == ["app"]
    json.dumps(body)


BULK_RULES = """
      - alert: MostlyFailing
        logs: {source: app, match: 'status=(?P<status>\\d+) '}
        aggregate: ratio
        of: ['status=~"5.."']
        over: 5m
        threshold: "> 0.5"
        annotations: {summary: "{{ value }}"}
"""


def test_a_burst_goes_through_the_scan_helper_which_ends_with_the_daemon(
    tmp_path: Path, http_receiver: HTTPReceiver
) -> None:
    cfg = write_config(tmp_path, http_receiver.url, BULK_RULES)
    (tmp_path / "app.log").write_text(
        "".join(f"req {i} status=503 took 12ms path=/x\n" for i in range(10_000))
    )  # 400 KB at once
    with running_daemon(cfg) as d:  # stopped (the thread ended) when the block ends
        wait_for(lambda: any(a.labels["alertname"] == "MostlyFailing" for a in d.alerts()))
        worker = d.scan_worker
        assert worker is not None and worker.handed >= 1  # the ratio's pass ran in the helper
        pid = worker.pid
        assert pid is not None
    assert d.scan_worker is None
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped with the daemon
