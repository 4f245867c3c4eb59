"""Two alerter daemons push to a real Alertmanager 0.25 cluster of two peers on loopback
(gossip over --cluster.listen-address / --cluster.peer): the same alert from one host is
notified once (the cluster's notification log deduplicates), an alert on both hosts is one
group as the route says, a silence made on one peer mutes the alert on the other, and with one
peer stopped the other still notifies."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.testing import free_port
from tests.alerter.fleet.procs import Server, alertmanager_argv, fleet, server
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: fleet
    interval: 1s
    rules:
      - alert: Fleet
        logs: {source: app, match: 'phase=(?P<phase>\\w+)'}
        aggregate: count
        by: [phase]
        over: 10m
        threshold: ">= 1"
"""

AM_CONFIG = """
route:
  receiver: hook
  group_by: [alertname, phase]
  group_wait: 500ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - {{matchers: ['phase="both"'], group_wait: 3s}}  # both hosts' alerts in its first message
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}/am", send_resolved: false}}]
"""


@contextlib.contextmanager
def cluster(tmp: Path, receiver: str) -> Iterator[list[Server]]:
    config = tmp / "alertmanager.yml"
    config.write_text(AM_CONFIG.format(url=receiver))
    web = [free_port(), free_port()]
    gossip = [free_port(), free_port()]
    with contextlib.ExitStack() as stack:
        peers = []
        for i, name in enumerate(("am1", "am2")):
            argv = alertmanager_argv(tmp, name, config, web[i], gossip[i], [gossip[1 - i]])
            url = f"http://127.0.0.1:{web[i]}"
            peers.append(stack.enter_context(server(argv, url, tmp / f"{name}.log")))

        def clustered() -> bool:
            for p in peers:
                c = p.get("/api/v2/status")["cluster"]
                if c["status"] != "ready" or len(c.get("peers") or []) != 2:
                    return False
            return True

        wait_for(clustered, timeout=30)
        yield peers


def notifications(rec: HTTPReceiver, phase: str) -> list[dict[str, Any]]:
    out = []
    for r in list(rec.requests):
        body = json.loads(r.body)
        if body["groupLabels"].get("phase") == phase:
            out.append(body)
    return out


def metric(p: Server, name: str) -> float:
    """The sum of a metric's samples on a peer's /metrics."""
    text = requests.get(f"{p.url}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def alert_states(p: Server, phase: str) -> list[str]:
    got = p.get("/api/v2/alerts", filter=f'phase="{phase}"')
    return [a["status"]["state"] for a in got]


def test_fleet_pushes_to_an_alertmanager_cluster(
    tmp_path: Path, http_receiver: HTTPReceiver
) -> None:
    with cluster(tmp_path, http_receiver.url) as peers:
        am1, am2 = peers
        extra = f"""
notifiers:
  - {{name: am, type: alertmanager, urls: ["{am1.url}", "{am2.url}"], timeout: 2s}}
route: {{receiver: am, group_wait: 0s}}
"""
        with fleet(tmp_path, RULES, ("a", "b"), extra) as (a, b):
            # 1. one host's alert, pushed to both peers: notified once
            a.write("phase=one\n")
            wait_for(lambda: all(alert_states(p, "one") == ["active"] for p in peers))
            wait_for(lambda: notifications(http_receiver, "one"), timeout=30)
            # both peers ran their dedup stage (the second one after peer_timeout)
            wait_for(
                lambda: all(metric(p, "alertmanager_nflog_queries_total") >= 1 for p in peers),
                timeout=30,
            )
            assert len(notifications(http_receiver, "one")) == 1

            # (a peer counts its notification once the receiver has answered)
            def sent() -> list[float]:
                return sorted(metric(p, "alertmanager_notifications_total") for p in peers)

            wait_for(lambda: sum(sent()) >= 1)
            assert sent() == [0.0, 1.0]  # one peer sent it, the other found it sent

            # 2. the same alert on both hosts: one group, as the route's group_by says
            a.write("phase=both\n")
            b.write("phase=both\n")

            # (a daemon slower than the route's group_wait joins the group's next message)
            def from_both() -> list[dict[str, Any]]:
                hosts = ["a", "b"]
                return [
                    n
                    for n in notifications(http_receiver, "both")
                    if sorted(x["labels"]["host"] for x in n["alerts"]) == hosts
                ]

            (first, *_) = wait_for(from_both, timeout=30)
            assert first["groupLabels"] == {"alertname": "Fleet", "phase": "both"}

            # 3. a silence made on am1 mutes the alert on am2 too
            now = time.time()
            silence = {
                "matchers": [{"name": "phase", "value": "quiet", "isRegex": False}],
                "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
                "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
                "createdBy": "test",
                "comment": "fleet test",
            }
            r = requests.post(f"{am1.url}/api/v2/silences", json=silence, timeout=5)
            r.raise_for_status()
            sid = r.json()["silenceID"]
            wait_for(lambda: [s["id"] for s in am2.get("/api/v2/silences")] == [sid])
            b.write("phase=quiet\n")
            wait_for(lambda: all(alert_states(p, "quiet") == ["suppressed"] for p in peers))
            muted = am2.get("/api/v2/alerts", filter='phase="quiet"')[0]
            assert muted["status"]["silencedBy"] == [sid]

            # 4. am1 stops: the alert pushed now is still notified, by am2
            am1.stop()
            a.write("phase=after\n")
            wait_for(lambda: alert_states(am2, "after") == ["active"])
            after = wait_for(lambda: notifications(http_receiver, "after"), timeout=30)
            assert [x["labels"]["host"] for x in after[0]["alerts"]] == ["a"]

            # nothing more came meanwhile: no second "one", nothing for the silenced alert
            assert len(notifications(http_receiver, "one")) == 1
            assert notifications(http_receiver, "quiet") == []
            assert len(notifications(http_receiver, "after")) == 1
