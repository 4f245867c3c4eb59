"""The Alertmanager alert shapes alerter sends and serves, field for field (one module builds
them all: alerter/notifiers/amjson.py)."""

from __future__ import annotations

from alerter.notifiers.amjson import (
    ENDS_AHEAD_SECONDS,
    alertmanager_alert,
    gettable_alert,
    webhook_alert,
)
from alerter.notifiers.model import ZERO_TIME, NotifiedAlert, Status, rfc3339
from alerter.rules.alert import Alert

T = 1_700_000_000.0
LABELS = {"alertname": "SSHBruteForce", "ip": "192.0.2.7"}
NOTES = {"summary": "5 failures"}


def notified(ends_at: float | None, **kw: tuple[str, ...]) -> NotifiedAlert:
    status: Status = "firing" if ends_at is None else "resolved"
    return NotifiedAlert(status, LABELS, NOTES, T, ends_at, "f" * 16, 5.0, "http://h/x", **kw)


def test_the_pushed_alert_is_alertmanagers_postable_alert() -> None:
    firing = alertmanager_alert(notified(None), "2023-11-14T22:17:20Z")
    assert firing == {
        "labels": LABELS,
        "annotations": NOTES,
        "startsAt": rfc3339(T),
        "endsAt": "2023-11-14T22:17:20Z",
        "generatorURL": "http://h/x",
    }
    assert alertmanager_alert(notified(T + 60), "unused")["endsAt"] == rfc3339(T + 60)


def test_the_webhook_alert_adds_status_and_fingerprint_and_notes_only_when_acted() -> None:
    plain = webhook_alert(notified(None))
    assert list(plain) == [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ]
    assert (plain["status"], plain["endsAt"], plain["fingerprint"]) == (
        "firing",
        ZERO_TIME,
        "f" * 16,
    )
    acted = webhook_alert(notified(None, action_notes=("restarted web at 12:03",)))
    assert acted["actionNotes"] == ["restarted web at 12:03"]


def test_the_api_alert_is_alertmanagers_gettable_alert() -> None:
    a = Alert(LABELS, NOTES, "firing", 5.0, T - 60, fired_at=T)
    status = {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}
    got = gettable_alert(a, status, ["hook"], "http://h/x", T + 10)
    assert got == {
        "labels": LABELS,
        "annotations": NOTES,
        "startsAt": rfc3339(T),
        "endsAt": rfc3339(T + 10 + ENDS_AHEAD_SECONDS),
        "generatorURL": "http://h/x",
        "receivers": [{"name": "hook"}],
        "fingerprint": a.fingerprint,
        "updatedAt": rfc3339(T),
        "status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []},
    }
