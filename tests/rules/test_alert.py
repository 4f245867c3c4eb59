"""fingerprint() is Alertmanager's (prometheus/common model.LabelSet.Fingerprint): FNV-1a 64 over
name, the single byte 0xff, value, 0xff, label by label in name order. The values pinned below were
read from a real Alertmanager 0.25 (tests/alerter/api/test_fingerprint_real.py checks it live).
An alert's stored form (to_dict / from_dict) round-trips."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from alerter.rules.alert import Alert, fingerprint

T = 1_700_000_000.0


def old_fingerprint(labels: Mapping[str, str]) -> str:
    """The reference, byte by byte as Go's hashAdd/hashAddByte write it."""
    h = 0xCBF29CE484222325
    for k in sorted(labels):
        for part in (k.encode(), b"\xff", labels[k].encode(), b"\xff"):
            for b in part:
                h ^= b
                h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


LABEL_SETS: list[dict[str, str]] = [
    {},
    {"alertname": "SSHBruteForce"},
    {"alertname": "SSHBruteForce", "ip": "10.0.0.1", "host": "web-1", "severity": "warning"},
    {"severity": "warning", "host": "web-1", "ip": "10.0.0.1", "alertname": "SSHBruteForce"},
    {"alertname": "Disk", "mount": "/srv/données", "owner": "Zoë", "note": "☃ 𝄞 日本語"},
    {"a": "", "": "b", "a\xff": "\xff", "ÿ": "\x00"},
    {"alertname": "x" * 300, "job": "node"},
]


@pytest.mark.parametrize("labels", LABEL_SETS)
def test_same_hash_as_the_byte_by_byte_reference(labels: dict[str, str]) -> None:
    assert fingerprint(labels) == old_fingerprint(labels)
    assert fingerprint(dict(labels)) == old_fingerprint(labels)  # again, from the cache


def test_known_values() -> None:
    # Pinned: as a real Alertmanager 0.25 prints them for these label sets.
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"alertname": "SSHBruteForce", "ip": "10.0.0.1"}) == "4ebd75657ef786ea"
    assert fingerprint({"mount": "/srv/données", "note": "☃"}) == "01193a3c5ec5c6a1"
    labels = {"alertname": "Disk", "mount": "/srv/données", "owner": "Zoë", "note": "☃ 𝄞 日本語"}
    assert fingerprint(labels) == "07d6454295a942ce"


def test_the_separator_is_one_byte() -> None:
    # The UTF-8 encoding of U+00FF (c3 bf) as the separator gave 400ac2f740087e62 here.
    assert fingerprint({"alertname": "SSHBruteForce", "ip": "10.0.0.1"}) != "400ac2f740087e62"


def test_label_order_does_not_matter_and_values_do() -> None:
    a = {"alertname": "A", "ip": "1.2.3.4"}
    assert fingerprint(a) == fingerprint(dict(reversed(a.items())))
    assert fingerprint(a) != fingerprint({**a, "ip": "1.2.3.5"})


def test_alert_computes_its_fingerprint_unless_given() -> None:
    labels = {"alertname": "A", "ip": "1.2.3.4"}
    a = Alert(labels=labels, annotations={}, state="firing", value=1.0, active_at=0.0)
    assert a.fingerprint == old_fingerprint(labels)
    b = Alert(
        labels=labels,
        annotations={},
        state="firing",
        value=1.0,
        active_at=0.0,
        fingerprint="0123456789abcdef",
    )
    assert b.fingerprint == "0123456789abcdef"


def test_the_stored_form_round_trips_through_json() -> None:
    a = Alert(
        labels={"alertname": "Disk", "mount": "/srv/données"},
        annotations={"summary": "☃ full"},
        state="resolved",
        value=97.5,
        active_at=T - 600,
        fired_at=T - 540,
        resolved_at=T,
        examples=("line 1", "line 2"),
        actions=("cleanup",),
        group="disk",
    )
    d = json.loads(json.dumps(a.to_dict()))
    assert Alert.from_dict(d) == a
    pending = Alert({"alertname": "A"}, {}, "pending", 1.0, T)
    assert Alert.from_dict(json.loads(json.dumps(pending.to_dict()))) == pending


def test_a_stored_fingerprint_is_recomputed_from_the_labels() -> None:
    a = Alert({"alertname": "SSHBruteForce", "ip": "10.0.0.1"}, {}, "firing", 5.0, T)
    stored = {**a.to_dict(), "fingerprint": "400ac2f740087e62"}  # as 0.1.0 hashed it
    assert Alert.from_dict(stored).fingerprint == "4ebd75657ef786ea"
