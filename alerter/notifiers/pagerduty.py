"""The PagerDuty notifier: Events API v2 (`POST /v2/enqueue`), one event per group flush.

As Alertmanager's pagerduty notifier does: `dedup_key` is the SHA-256 of the group key, so the
same group always updates the same PagerDuty incident; a flush with firing alerts triggers it, a
flush where all are resolved resolves it. The summary is the group title (`[FIRING:2] ...`),
cut to PagerDuty's 1024 characters; the severity is the group's common `severity` label when it
is one PagerDuty knows, else the configured one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests

from alerter.notifiers.config import NotifierConfig, PagerDutySettings
from alerter.notifiers.delivery import post, prepare
from alerter.notifiers.model import Notification, cut, rfc3339
from alerter.notifiers.slack import title

SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_MAX = 1024


def dedup_key(group_key: str) -> str:
    """Alertmanager's notify.hashKey: the hex SHA-256 of the group key."""
    return hashlib.sha256(group_key.encode()).hexdigest()


def pagerduty_event(n: Notification, s: PagerDutySettings) -> dict[str, Any]:
    """The Events API v2 body for one notification. Pure."""
    key = dedup_key(n.group_key)
    resolved = n.status == "resolved"
    body: dict[str, Any] = {
        "routing_key": s.routing_key,
        "event_action": "resolve" if resolved else "trigger",
        "dedup_key": key,
    }
    if resolved:
        return body
    sev = n.common_labels.get("severity", "")
    body["payload"] = {
        "summary": cut(title(n), SUMMARY_MAX),
        "source": s.source or n.external_url or "alerter",
        "severity": sev if sev in SEVERITIES else s.severity,
        "timestamp": rfc3339(n.time),
        "custom_details": {
            "firing": [_details(a.labels, a.annotations) for a in n.firing],
            "num_firing": len(n.firing),
            "num_resolved": len(n.alerts) - len(n.firing),
        },
    }
    if s.component:
        body["payload"]["component"] = s.component
    if s.group:
        body["payload"]["group"] = s.group
    if s.klass:
        body["payload"]["class"] = s.klass
    body["client"] = "alerter"
    if n.external_url:
        body["client_url"] = n.external_url
        body["links"] = [{"href": f"{n.external_url}/", "text": "alerter"}]
    return body


def _details(labels: Any, annotations: Any) -> dict[str, Any]:
    return {"labels": dict(labels), "annotations": dict(annotations)}


class PagerDutyNotifier:
    def __init__(self, config: NotifierConfig, session: requests.Session) -> None:
        assert isinstance(config.settings, PagerDutySettings)
        self.name = config.name
        self.send_resolved = config.send_resolved
        self._settings = config.settings
        self._timeout = config.timeout
        self._session = session
        prepare(session)

    def send(self, notification: Notification) -> None:
        body = json.dumps(
            pagerduty_event(notification, self._settings), ensure_ascii=False
        ).encode()
        post(
            self._session,
            self._settings.url,
            body,
            {"Content-Type": "application/json"},
            self._timeout,
        )
