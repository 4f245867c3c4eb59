"""Alertmanager's JSON for alerts, in one place: every shape in which alerter speaks
Alertmanager's alert format is built here from the same fields.

- `alertmanager_alert`: a notified alert as Alertmanager's push API takes it (postableAlert);
- `webhook_alert` / `webhook_payload`: Alertmanager's webhook JSON (version "4"), and the Jinja
  `body` rendered from it (the config reader checks a `body` with `check_body_template`);
- `gettable_alert`: an alert the dispatcher holds as firing, as `GET /api/v2/alerts` serves it.

Pure functions of the values (alerter/notifiers/model.py, alerter/rules/alert.py). The other
outward shapes of an alert have their own contract and module: Prometheus's API
(alerter/api/prometheus.py), the replay line (DESIGN, alerter/cli), a command action's stdin
(alerter/actions/templating.py); the stored form is `Alert.to_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from alerter.notifiers.model import (
    ZERO_TIME,
    Notification,
    NotifiedAlert,
    rfc3339,
    sample_notification,
)
from alerter.rules.alert import Alert
from alerter.rules.templates import BoundedEnvironment

# An alert's endsAt while it fires, in the API: Prometheus sends 4 x its resend delay (1m) ahead
ENDS_AHEAD_SECONDS = 240.0


def _alert_fields(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts_at: float,
    ends_at: str,
    generator_url: str,
) -> dict[str, Any]:
    """The fields every Alertmanager alert shape has."""
    return {
        "labels": dict(labels),
        "annotations": dict(annotations),
        "startsAt": rfc3339(starts_at),
        "endsAt": ends_at,
        "generatorURL": generator_url,
    }


def alertmanager_alert(a: NotifiedAlert, ends_at: str) -> dict[str, Any]:
    """Alertmanager's postableAlert; `ends_at` is the endsAt of a firing alert, which each
    receiver reads differently."""
    ends = rfc3339(a.ends_at) if a.ends_at is not None else ends_at
    return _alert_fields(a.labels, a.annotations, a.starts_at, ends, a.generator_url)


def gettable_alert(
    a: Alert, status: Mapping[str, Any], receivers: list[str], generator_url: str, now: float
) -> dict[str, Any]:
    """Alertmanager's gettableAlert for an alert the dispatcher holds as firing."""
    starts = a.fired_at if a.fired_at is not None else a.active_at
    out = _alert_fields(
        a.labels, a.annotations, starts, rfc3339(now + ENDS_AHEAD_SECONDS), generator_url
    )
    out.update(
        receivers=[{"name": r} for r in receivers],
        fingerprint=a.fingerprint,
        updatedAt=rfc3339(starts),
        status={
            "state": status["state"],
            "silencedBy": list(status["silencedBy"]),
            "inhibitedBy": list(status["inhibitedBy"]),
        },
    )
    return out


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


_TEMPLATE_ENV = BoundedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


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
