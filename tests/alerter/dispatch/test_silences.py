"""Silences: Alertmanager's validation, states, persistence, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.dispatch.inhibit import Inhibitor
from alerter.dispatch.silences import SilenceNotFound, Silences, silence_from_api
from alerter.state import StateStore

from .helpers import alert, inhibit

T0 = 1_700_000_000.0


def body(**kw: object) -> dict[str, object]:
    d: dict[str, object] = {
        "matchers": [{"name": "host", "value": "web.*", "isRegex": True, "isEqual": True}],
        "startsAt": "2023-11-14T22:13:20Z",
        "endsAt": "2023-11-14T23:13:20Z",
        "createdBy": "ops",
        "comment": "deploy",
    }
    d.update(kw)
    return d


def test_silence_mutes_matching_alerts_only_while_active_and_persists(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    sid = s.add(silence_from_api(body(startsAt="2023-11-14T22:30:00Z"), T0), T0)
    assert s.get(sid) is not None and s.get(sid).state(T0) == "pending"  # type: ignore[union-attr]
    assert s.muted_by({"host": "web1"}, T0) == []
    assert s.muted_by({"host": "web1"}, T0 + 1200) == [sid]
    assert s.muted_by({"host": "db1"}, T0 + 1200) == []
    reloaded = Silences(store)
    assert reloaded.muted_by({"host": "web1"}, T0 + 1200) == [sid]
    reloaded.expire(sid, T0 + 1300)
    assert Silences(store).get(sid).state(T0 + 1300) == "expired"  # type: ignore[union-attr]
    api = Silences(store).get(sid).to_api(T0 + 1300)  # type: ignore[union-attr]
    assert api["matchers"] == [{"name": "host", "value": "web.*", "isRegex": True, "isEqual": True}]
    assert api["status"] == {"state": "expired"}
    store.close()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"matchers": []}, "at least one matcher"),
        (
            {"matchers": [{"name": "host", "value": ".*", "isRegex": True}]},
            "must not match the empty string",
        ),
        ({"endsAt": "2023-11-14T22:00:00Z"}, "endsAt must be after startsAt"),
        ({"comment": ""}, "comment"),
        ({"createdBy": None}, "createdBy"),
        ({"endsAt": "tomorrow"}, "not an RFC 3339 time"),
        ({"matchers": [{"name": "a", "value": "(", "isRegex": True}]}, "invalid regex"),
    ],
)
def test_invalid_silences_are_refused_with_a_reason(
    override: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        silence_from_api(body(**override), T0)


def test_updating_and_expiring_unknown_ids(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    with pytest.raises(SilenceNotFound):
        s.expire("nope", T0)
    with pytest.raises(SilenceNotFound):
        s.add(silence_from_api(body(id="nope"), T0), T0)
    sid = s.add(silence_from_api(body(), T0), T0)
    same = s.add(silence_from_api(body(id=sid, comment="longer deploy"), T0 + 10), T0 + 10)
    assert same == sid and s.get(sid).comment == "longer deploy"  # type: ignore[union-attr]
    s.expire(sid, T0 + 20)
    new = s.add(silence_from_api(body(id=sid), T0 + 30), T0 + 30)
    assert new != sid
    assert s.gc(T0 + 6 * 86400) == 2
    store.close()


def test_inhibition_needs_equal_labels_and_an_alert_cannot_inhibit_itself() -> None:
    rule = inhibit(
        "{source_matchers: ['severity=\"critical\"'], target_matchers: ['severity=~\"warning|critical\"'], equal: [host]}"
    )
    inh = Inhibitor([rule])
    src = alert(severity="critical", host="a")
    assert inh.inhibited_by(alert(severity="warning", host="a").labels, "x", [src]) == [
        src.fingerprint
    ]
    assert inh.inhibited_by(alert(severity="warning", host="b").labels, "x", [src]) == []
    assert inh.inhibited_by(src.labels, src.fingerprint, [src]) == []
    other_crit = alert(alertname="Other", severity="critical", host="a")
    assert inh.inhibited_by(other_crit.labels, other_crit.fingerprint, [src]) == []  # both sides
    missing = inhibit(
        "{source_matchers: ['alertname=\"HostDown\"'], target_matchers: ['x=\"\"'], equal: [dc]}"
    )
    down = alert(alertname="HostDown")
    assert Inhibitor([missing]).inhibited_by(alert().labels, "y", [down]) == [down.fingerprint]
