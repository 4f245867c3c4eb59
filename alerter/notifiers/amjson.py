"""Alertmanager's JSON for notified alerts, and the webhook body built from it.

One source for the shapes receivers parse: an alert as Alertmanager's push API takes it
(`alertmanager_alert`), the webhook JSON (version "4") around it, and the Jinja `body` rendered
from that JSON. Pure functions of the notification value (alerter/notifiers/model.py); the
config reader checks a `body` template with them and the notifiers send what they return.
"""

from __future__ import annotations

from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alerter.notifiers.model import (
    ZERO_TIME,
    Notification,
    NotifiedAlert,
    rfc3339,
    sample_notification,
)


def alertmanager_alert(a: NotifiedAlert, ends_at: str) -> dict[str, Any]:
    """Alertmanager's alert fields (its push API's PostableAlert); `ends_at` is the endsAt of a
    firing alert, which each receiver reads differently."""
    return {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "startsAt": rfc3339(a.starts_at),
        "endsAt": rfc3339(a.ends_at) if a.ends_at is not None else ends_at,
        "generatorURL": a.generator_url,
    }


def webhook_alert(a: NotifiedAlert) -> dict[str, Any]:
    """One alert of Alertmanager's webhook JSON (endsAt of a firing alert: the zero time)."""
    out: dict[str, Any] = {"status": a.status, **alertmanager_alert(a, ZERO_TIME)}
    out["fingerprint"] = a.fingerprint
    # alerter's one addition to Alertmanager's format, present only when actions ran, so
    # receivers written for Alertmanager see exactly its fields otherwise.
    if a.action_notes:
        out["actionNotes"] = list(a.action_notes)
    return out


def webhook_payload(n: Notification, max_alerts: int = 0) -> dict[str, Any]:
    alerts = list(n.alerts)
    truncated = n.truncated_alerts
    if max_alerts and len(alerts) > max_alerts:
        truncated += len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    return {
        "receiver": n.receiver,
        "status": n.status,
        "alerts": [webhook_alert(a) for a in alerts],
        "groupLabels": dict(n.group_labels),
        "commonLabels": dict(n.common_labels),
        "commonAnnotations": dict(n.common_annotations),
        "externalURL": n.external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": truncated,
    }


_TEMPLATE_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def body_template(text: str) -> jinja2.Template:
    return _TEMPLATE_ENV.from_string(text)


def render_body(template: jinja2.Template, n: Notification, max_alerts: int = 0) -> str:
    """The Jinja `body`: variables are the webhook JSON fields (`alerts`, `status`, `groupLabels`
    ...). Values come from logs: use `| tojson` to embed them in JSON."""
    return template.render(**webhook_payload(n, max_alerts))


def check_body_template(text: str) -> str | None:
    """Compile and render a webhook body with sample data; the problem, or None."""
    try:
        render_body(body_template(text), sample_notification())
    except jinja2.TemplateSyntaxError as e:
        return f"template syntax error on line {e.lineno}: {e.message}"
    except Exception as e:  # any render error, shown to the user as a config problem
        return f"template fails on sample data: {e}"
    return None
