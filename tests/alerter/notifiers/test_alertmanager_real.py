"""The alertmanager notifier against a real Alertmanager (Debian's prometheus-alertmanager),
started on a loopback port with its own data dir and gossip disabled."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.notifiers import build_notifier
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore
from alerter.testing import free_port
from tests.alerter.dispatch.helpers import alert, make_dispatcher, notifier_config, route, tr
from tests.conftest import HTTPReceiver, require, stop_process, wait_for

BINARY = Path("/usr/bin/prometheus-alertmanager")


@pytest.fixture
def alertmanager(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[str]:
    require(str(BINARY))
    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{http_receiver.url}/am", send_resolved: true}}]
""")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "am.log").open("w")
    proc = subprocess.Popen(
        [
            str(BINARY),
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "am.log").read_text()
            try:
                return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=30)
        yield url
    finally:
        stop_process(proc)
        log.close()


def _alerts(url: str) -> list[dict[str, Any]]:
    r = requests.get(f"{url}/api/v2/alerts", timeout=5)
    r.raise_for_status()
    out: list[dict[str, Any]] = r.json()
    return out


@pytest.mark.integration
def test_pushed_alerts_appear_grouped_and_resolve(
    alertmanager: str, http_receiver: HTTPReceiver, tmp_path: Path
) -> None:
    store = StateStore(tmp_path / "state")
    cfg = notifier_config(
        f"{{name: am, type: alertmanager, urls: ['{alertmanager}'], timeout: 5s}}"
    )
    n = build_notifier(cfg, requests.Session(), SystemClock())
    d = make_dispatcher(
        store,
        SystemClock(),
        route("{receiver: am, group_by: [host], group_wait: 1m}", ("am",)),
        {"am": n},
        configs={"am": cfg},
    )
    clock = SystemClock()
    try:
        t0 = clock.now()
        a, b = alert(t=t0, host="a", severity="warning"), alert(t=t0, host="b", severity="warning")
        d.handle([tr(a), tr(b)], clock.now())  # pushed at once: Alertmanager does the grouping
        got = wait_for(lambda: len(_alerts(alertmanager)) == 2 and _alerts(alertmanager))
        assert {x["labels"]["host"] for x in got} == {"a", "b"}
        assert all(x["status"]["state"] == "active" for x in got)
        assert all(x["annotations"]["summary"] == "HighLoad is firing" for x in got)
        groups = requests.get(f"{alertmanager}/api/v2/alerts/groups", timeout=5).json()
        assert [(g["labels"], len(g["alerts"])) for g in groups] == [({"alertname": "HighLoad"}, 2)]
        first = http_receiver.wait(1)[0].json()
        assert first["status"] == "firing" and len(first["alerts"]) == 2

        d.handle(
            [tr(alert("resolved", clock.now(), host="a", severity="warning"), "firing")],
            clock.now(),
        )
        wait_for(lambda: [x["labels"]["host"] for x in _alerts(alertmanager)] == ["b"])
        d.handle(
            [tr(alert("resolved", clock.now(), host="b", severity="warning"), "firing")],
            clock.now(),
        )
        wait_for(lambda: _alerts(alertmanager) == [])

        def resolved_notice() -> bool:
            return any(r.json()["status"] == "resolved" for r in http_receiver.requests)

        wait_for(resolved_notice, timeout=15)
    finally:
        d.stop()
        store.close()
