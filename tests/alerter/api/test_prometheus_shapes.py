"""/api/v1/alerts and /api/v1/rules field for field against a real Prometheus 2.42 (Debian's
prometheus) serving the equivalent rules: one firing (no `for`), one pending (`for: 1h`)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.testing import free_port
from tests.alerter.api import daemon_fixture
from tests.alerter.api.daemon_fixture import Running
from tests.conftest import HTTPReceiver, require, stop_process, wait_for

pytestmark = pytest.mark.integration

ALERTER_RULES = """
groups:
  - name: app
    interval: 1s
    rules:
      - alert: AppErrors
        logs: {source: app, match: 'ERROR'}
        aggregate: count
        over: 5m
        threshold: ">= 1"
        labels: {severity: warning}
        annotations: {summary: "{{ value }} errors"}
      - alert: Slow
        logs: {source: app, match: 'ERROR'}
        aggregate: count
        over: 5m
        threshold: ">= 1"
        for: 1h
"""

PROMETHEUS_RULES = """
groups:
  - name: app
    interval: 1s
    rules:
      - alert: AppErrors
        expr: vector(1) >= 1
        labels: {severity: warning}
        annotations: {summary: "{{ $value }} errors"}
      - alert: Slow
        expr: vector(1) >= 1
        for: 1h
"""

GO_FLOAT = re.compile(r"^-?\d(\.\d+)?e[+-]\d{2,3}$|^NaN$|^[+-]Inf$")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    exe = require("prometheus")
    (tmp_path / "prom-rules.yml").write_text(PROMETHEUS_RULES)
    (tmp_path / "prom.yml").write_text(
        f"global: {{evaluation_interval: 1s}}\nrule_files: [{tmp_path / 'prom-rules.yml'}]\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    log = (tmp_path / "prom.log").open("w")
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={tmp_path / 'prom.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def both_alerts() -> bool:
            assert proc.poll() is None, (tmp_path / "prom.log").read_text()
            try:
                r = requests.get(f"{url}/api/v1/alerts", timeout=1)
                return len(r.json()["data"]["alerts"]) == 2
            except (requests.RequestException, ValueError):  # not up, or not ready yet (503)
                return False

        wait_for(both_alerts, timeout=30)
        yield url
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture
def running(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[Running]:
    (tmp_path / "alerter").mkdir()
    yield from daemon_fixture.start(tmp_path / "alerter", http_receiver.url, ALERTER_RULES)


def shape(v: Any) -> Any:
    """The JSON types of a value, key by key (numbers are numbers, int or float; label and
    annotation sets are string maps, whatever their keys)."""
    if isinstance(v, dict):
        return {
            k: "labelset"
            if k in ("labels", "annotations") and all(isinstance(s, str) for s in x.values())
            else shape(x)
            for k, x in v.items()
        }
    if isinstance(v, list):
        return [shape(x) for x in v[:1]]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return type(v).__name__


def get(url: str, path: str) -> Any:
    r = requests.get(url + path, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    return r.json()


def by_name(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["labels"]["alertname"]: a for a in alerts}


def test_alerts_and_rules_have_prometheus_fields_and_types(
    prometheus: str, running: Running
) -> None:
    running.write("ERROR one")

    def both() -> Any:
        body = get(running.url, "/api/v1/alerts")
        return body if len(body["data"]["alerts"]) == 2 else None

    ours = wait_for(both, timeout=20)
    theirs = get(prometheus, "/api/v1/alerts")
    assert shape(ours) == shape(theirs)
    mine, prom = by_name(ours["data"]["alerts"]), by_name(theirs["data"]["alerts"])
    assert {k: a["state"] for k, a in mine.items()} == {k: a["state"] for k, a in prom.items()}
    assert {k: a["value"] for k, a in mine.items()} == {k: a["value"] for k, a in prom.items()}
    assert (
        mine["AppErrors"]["annotations"]
        == prom["AppErrors"]["annotations"]
        == {"summary": "1 errors"}
    )
    for a in [*mine.values(), *prom.values()]:
        assert GO_FLOAT.match(a["value"]), a["value"]
        assert datetime.fromisoformat(a["activeAt"].replace("Z", "+00:00")).tzinfo is not None
    # alerter adds its global labels (env, host), as Prometheus adds external labels on push
    assert mine["AppErrors"]["labels"].items() >= prom["AppErrors"]["labels"].items()

    def evaluated() -> Any:
        body = get(running.url, "/api/v1/rules")
        rules = body["data"]["groups"][0]["rules"]
        return body if all(r["alerts"] for r in rules) else None

    ours, theirs = wait_for(evaluated, timeout=20), get(prometheus, "/api/v1/rules")
    assert shape(ours) == shape(theirs)
    (g,), (pg,) = ours["data"]["groups"], theirs["data"]["groups"]
    assert (g["name"], g["interval"], g["limit"]) == (pg["name"], pg["interval"], pg["limit"])
    assert g["file"].endswith("rules.yaml")
    for r, pr in zip(g["rules"], pg["rules"], strict=True):
        assert list(r) == list(pr)  # same fields in the same order
        for key in ("state", "name", "duration", "keepFiringFor", "labels", "health", "type"):
            assert r[key] == pr[key], key
        assert set(r["annotations"]) == set(pr["annotations"])
        assert [a["state"] for a in r["alerts"]] == [a["state"] for a in pr["alerts"]]
        assert "ERROR" in r["query"]
        assert datetime.fromisoformat(r["lastEvaluation"].replace("Z", "+00:00")).year > 2000
