"""Silences: Alertmanager's validation, states, persistence, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.dispatch import silences
from alerter.dispatch.inhibit import Inhibitor
from alerter.dispatch.silences import (
    MAX_REGEX_PROGRAM,
    MAX_SILENCE_BYTES,
    Silence,
    SilenceLimitError,
    SilenceNotFound,
    Silences,
    regex_program_size,
    silence_from_api,
)
from alerter.notifiers.model import rfc3339
from alerter.store.db import StateStore

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


def kept(s: Silences, sid: str) -> Silence:
    """The silence `sid`, which must be there."""
    found = s.get(sid)
    assert found is not None, sid
    return found


def test_silence_mutes_matching_alerts_only_while_active_and_persists(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    sid = s.add(silence_from_api(body(startsAt="2023-11-14T22:30:00Z"), T0), T0)
    assert kept(s, sid).state(T0) == "pending"
    assert s.muted_by({"host": "web1"}, T0) == []
    assert s.muted_by({"host": "web1"}, T0 + 1200) == [sid]
    assert s.muted_by({"host": "db1"}, T0 + 1200) == []
    reloaded = Silences(store)
    assert reloaded.muted_by({"host": "web1"}, T0 + 1200) == [sid]
    reloaded.expire(sid, T0 + 1300)
    assert kept(Silences(store), sid).state(T0 + 1300) == "expired"
    api = kept(Silences(store), sid).to_api(T0 + 1300)
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
        # ended before now: it was kept with startsAt (now) after endsAt, and silenced nothing
        (
            {"startsAt": "2023-11-14T21:00:00Z", "endsAt": "2023-11-14T22:00:00Z"},
            "endsAt must be in the future",
        ),
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
    assert same == sid and kept(s, sid).comment == "longer deploy"
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


def hour(
    start: float, matchers: list[dict[str, object]] | None = None, **kw: object
) -> dict[str, object]:
    """A silence body for [start, start + 1h) (times as RFC 3339)."""
    return body(startsAt=rfc3339(start), endsAt=rfc3339(start + 3600), **kw) | (
        {"matchers": matchers} if matchers else {}
    )


def test_active_and_pending_silences_are_capped_and_updates_still_go_through(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    s = Silences(store, max_silences=3)
    active = [s.add(silence_from_api(hour(T0), T0), T0) for _ in range(2)]
    pending = s.add(silence_from_api(hour(T0 + 600), T0), T0)
    with pytest.raises(SilenceLimitError, match=r"maximum number of silences: 3 .*limit: 3"):
        s.add(silence_from_api(hour(T0), T0), T0)
    # updating in place creates nothing: allowed at the cap
    assert s.add(silence_from_api(hour(T0, id=pending, comment="later"), T0 + 1), T0 + 1) == pending
    s.expire(active[0], T0 + 2)
    third = s.add(silence_from_api(hour(T0 + 2), T0 + 2), T0 + 2)
    with pytest.raises(SilenceLimitError):  # an expired one updated is a new silence
        s.add(silence_from_api(hour(T0 + 3, id=active[0]), T0 + 3), T0 + 3)
    # silences that end on their own no longer count
    assert s.add(silence_from_api(hour(T0 + 3600), T0 + 3600), T0 + 3600) not in (third, pending)
    assert len(Silences(store, max_silences=3).all()) == 5  # nothing refused was stored
    store.close()


def test_a_silence_too_large_or_with_too_costly_regexes_is_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    with pytest.raises(SilenceLimitError, match=f"too large: .* bytes .limit: {MAX_SILENCE_BYTES}"):
        s.add(silence_from_api(hour(T0, comment="x" * MAX_SILENCE_BYTES), T0), T0)
    wide = [{"name": f"l{i}", "value": ".{0,200}y", "isRegex": True} for i in range(7)]
    m = silence_from_api(hour(T0, wide), T0).matchers
    assert regex_program_size(m[:1]) * 7 == regex_program_size(m) > MAX_REGEX_PROGRAM
    with pytest.raises(SilenceLimitError, match="regexes too complex"):
        s.add(silence_from_api(hour(T0, wide), T0), T0)
    sid = s.add(silence_from_api(hour(T0, wide[:5], comment="x" * 10_000), T0), T0)
    assert s.muted_by({f"l{i}": "y" for i in range(5)}, T0 + 1) == [sid]
    assert [x.id for x in s.all()] == [sid]
    store.close()


def test_only_the_expired_silences_that_ended_last_are_kept(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store, max_silences=2)
    ended = []
    for i in range(10):  # created and expired in a loop: kept for listing, but not all
        sid = s.add(silence_from_api(hour(T0 + i), T0 + i), T0 + i)
        s.expire(sid, T0 + i)
        ended.append(sid)
        assert len(s.all()) <= 2 * 2
    live = s.add(silence_from_api(hour(T0 + 20), T0 + 20), T0 + 20)
    kept_before_gc = len(s.all())
    assert s.gc(T0 + 21) == kept_before_gc - 3  # all but the two that ended last, and the live
    assert {x.id for x in s.all()} == {ended[-2], ended[-1], live}
    assert {x.id for x in Silences(store).all()} == {ended[-2], ended[-1], live}  # stored so
    store.close()


def test_the_regexes_of_all_live_silences_share_one_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regex = [{"name": "host", "value": "db[0-9]+-.*", "isRegex": True}]
    one = regex_program_size(silence_from_api(hour(T0, regex), T0).matchers)
    monkeypatch.setattr(silences, "MAX_REGEX_PROGRAM_TOTAL", 3 * one)
    store = StateStore(tmp_path)
    s = Silences(store)
    eq = [{"name": "host", "value": "db1", "isRegex": False}]
    first = [s.add(silence_from_api(hour(T0, regex), T0), T0) for _ in range(3)]
    s.add(silence_from_api(hour(T0, eq), T0), T0)  # no regex: costs nothing
    with pytest.raises(SilenceLimitError, match=f"{4 * one} RE2 instructions .*limit: {3 * one}"):
        s.add(silence_from_api(hour(T0, regex), T0), T0)
    s = Silences(store)  # after a restart: the loaded silences count too
    with pytest.raises(SilenceLimitError, match="regexes of all silences"):
        s.add(silence_from_api(hour(T0, regex), T0), T0)
    s.add(silence_from_api(hour(T0, id=first[0], matchers=eq), T0 + 1), T0 + 1)  # cheaper now
    assert s.add(silence_from_api(hour(T0 + 1, regex), T0 + 1), T0 + 1)
    with pytest.raises(SilenceLimitError):
        s.add(silence_from_api(hour(T0 + 1, regex), T0 + 1), T0 + 1)
    s.expire(first[1], T0 + 2)  # an expired silence costs nothing
    assert s.add(silence_from_api(hour(T0 + 2, regex), T0 + 2), T0 + 2)
    store.close()


def test_a_stored_silence_whose_regex_is_now_refused_is_left_out_not_fatal(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    good = s.add(silence_from_api(body(), T0), T0)
    bad = s.add(silence_from_api(body(), T0), T0)
    data = s._by_id[bad]
    stored = silences._to_store(data).replace('"web.*"', '"a)|(b"')  # accepted by an older version
    with store.transaction() as db:
        db.execute("UPDATE silences SET data = ? WHERE id = ?", (stored, bad))
    reloaded = Silences(store)
    assert reloaded.get(good) is not None and reloaded.get(bad) is None
    assert reloaded.muted_by({"host": "web1"}, T0 + 1) == [good]
    store.close()
