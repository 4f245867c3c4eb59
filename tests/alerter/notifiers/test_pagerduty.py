"""The PagerDuty notifier (Events API v2) against a loopback receiver that validates each event
as PagerDuty documents it, through the outbox: trigger, then resolve with the same dedup_key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.notifiers import build_notifier
from alerter.notifiers.pagerduty import dedup_key
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore
from tests.alerter.dispatch.helpers import alert, make_dispatcher, notifier_config, route, tr
from tests.conftest import HTTPReceiver, wait_for


def check_event(e: dict[str, Any]) -> None:
    """PagerDuty's Events API v2 rules for /v2/enqueue (developer.pagerduty.com, "Send an Alert
    Event" and "Resolve"): a 32-character routing key, an action, a dedup key of at most 255
    characters; a trigger's payload needs summary (<= 1024), source and a known severity."""
    assert set(e) <= {
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "client",
        "client_url",
        "links",
        "images",
    }
    assert isinstance(e["routing_key"], str) and len(e["routing_key"]) == 32
    assert e["event_action"] in ("trigger", "acknowledge", "resolve")
    assert 0 < len(e["dedup_key"]) <= 255
    if e["event_action"] == "trigger":
        p = e["payload"]
        assert 0 < len(p["summary"]) <= 1024
        assert p["source"]
        assert p["severity"] in ("critical", "error", "warning", "info")
        assert set(p) <= {
            "summary",
            "source",
            "severity",
            "timestamp",
            "component",
            "group",
            "class",
            "custom_details",
        }
        for link in e.get("links", []):
            assert set(link) == {"href", "text"}


KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.integration
def test_trigger_then_resolve_with_one_stable_dedup_key(
    http_receiver: HTTPReceiver, tmp_path: Path
) -> None:
    cfg = notifier_config(
        f"{{name: pd, type: pagerduty, routing_key: {KEY}, url: '{http_receiver.url}/v2/enqueue',"
        " component: web}"
    )
    store = StateStore(tmp_path / "state")
    clock = SystemClock()
    d = make_dispatcher(
        store,
        clock,
        route("{receiver: pd, group_by: [alertname], group_wait: 0s, group_interval: 1s}", ("pd",)),
        {"pd": build_notifier(cfg, requests.Session(), clock)},
        configs={"pd": cfg},
    )
    try:
        d.handle([tr(alert(t=clock.now(), host="web1", severity="critical"))], clock.now())
        http_receiver.wait(1)
        d.handle(
            [tr(alert("resolved", clock.now(), host="web1", severity="critical"), "firing")],
            clock.now(),
        )

        def ticked() -> bool:
            d.tick(clock.now())
            return len(http_receiver.requests) >= 2

        wait_for(ticked, timeout=15)
    finally:
        d.stop()
        store.close()
    events = [json.loads(r.body) for r in http_receiver.requests]
    for e in events:
        check_event(e)
    trigger, resolve = events
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == dedup_key('{}:{alertname="HighLoad"}')
    assert trigger["payload"]["severity"] == "critical"  # the group's severity label
    assert trigger["payload"]["summary"].startswith("[FIRING:1] HighLoad")
    assert trigger["payload"]["component"] == "web"
    assert http_receiver.requests[0].path == "/v2/enqueue"


def test_a_long_summary_is_cut_and_an_unknown_severity_falls_back() -> None:
    from alerter.notifiers.config import PagerDutySettings
    from alerter.notifiers.model import Notification, NotifiedAlert
    from alerter.notifiers.pagerduty import pagerduty_event

    cfg = notifier_config(f"{{name: pd, type: pagerduty, routing_key: {KEY}, severity: warning}}")
    assert isinstance(cfg.settings, PagerDutySettings)
    a = NotifiedAlert("firing", {"alertname": "X" * 3000, "severity": "page"}, {}, 0.0, None, "f")
    e = pagerduty_event(
        Notification("pd", "{}:{}", {"alertname": "X" * 3000}, (a,), 0.0),
        cfg.settings,
    )
    check_event(e)
    assert len(e["payload"]["summary"]) == 1024 and e["payload"]["severity"] == "warning"
