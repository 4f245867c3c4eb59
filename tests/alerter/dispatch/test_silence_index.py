"""The silence index: an alert's candidates are found per label, and `muted_by` answers exactly
what trying every silence answers (randomized silences, alerts, updates, expiry, gc, reload)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from alerter.dispatch.silenceindex import SilenceIndex, literals
from alerter.dispatch.silences import Silence, Silences
from alerter.state import StateStore
from rules.matchers import Matcher, Op

T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web1", ["web1"]),
        ("web1|web2", ["web1", "web2"]),
        ("10\\.0\\.0\\.1", ["10.0.0.1"]),
        ("a\\|b", ["a|b"]),
        ("a-b:c/d", ["a-b:c/d"]),
        ("web.*", None),
        ("web.1", None),
        ("(a|b)", None),
        ("a|", None),
        ("|a", None),
        ("a||b", None),
        ("", None),
        ("\\d+", None),
        ("a\\", None),
        ("[ab]", None),
        ("a{2}", None),
        ("(?i)a", None),
    ],
)
def test_only_plain_literals_and_their_alternations_are_read_as_literals(
    pattern: str, expected: list[str] | None
) -> None:
    assert literals(pattern) == expected
    if expected is not None:  # what the matcher's own regex matches, and nothing else near
        m = Matcher.create("x", "=~", pattern)
        assert all(m.matches({"x": v}) for v in expected)
        assert not any(m.matches({"x": v}) for v in ("", expected[0] + "x", "x" + expected[0]))


def sil(
    sid: str, *matchers: tuple[str, Op, str], start: float = T0, end: float = T0 + 3600
) -> Silence:
    ms = tuple(Matcher.create(n, op, v) for n, op, v in matchers)
    return Silence(sid, ms, start, end, "ops", "test", start)


def test_an_alert_is_offered_only_the_silences_filed_under_its_labels() -> None:
    index: SilenceIndex[Silence] = SilenceIndex()
    for i in range(5000):  # every silence shares alertname: filed under its instance instead
        index.add(sil(f"s{i}", ("alertname", "=", "Down"), ("instance", "=", f"host{i}")))
    index.add(sil("alt", ("instance", "=~", "db1|db2"), ("severity", "!=", "info")))
    index.add(sil("neg", ("instance", "!=", "x"), ("job", "!~", "n.*")))  # scanned
    index.add(sil("rx", ("instance", "=~", "web.*")))  # scanned
    found = [s.id for s in index.candidates({"alertname": "Down", "instance": "host42"})]
    assert "s42" in found and set(found) <= {"s0", "s42", "neg", "rx"}
    assert [s.id for s in index.candidates({"instance": "db2", "job": "x"})] == ["alt", "neg", "rx"]
    index.remove("s42")
    index.remove("alt")
    assert "s42" not in [
        s.id for s in index.candidates({"alertname": "Down", "instance": "host42"})
    ]
    assert [s.id for s in index.candidates({"instance": "db2"})] == ["neg", "rx"]
    assert len(index) == 5000 + 3 - 2


def test_an_updated_silence_is_refiled_under_its_new_matchers() -> None:
    index: SilenceIndex[Silence] = SilenceIndex()
    index.add(sil("a", ("instance", "=", "web1")))
    index.add(sil("a", ("instance", "=", "web2")))
    assert [s.id for s in index.candidates({"instance": "web1"})] == []
    assert [s.id for s in index.candidates({"instance": "web2"})] == ["a"]
    index.add(sil("a", ("instance", "=~", "web.*")))
    assert [s.id for s in index.candidates({"instance": "db"})] == ["a"]  # now scanned
    assert len(index) == 1


def test_matches_are_listed_oldest_first_whichever_way_they_were_found(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    first = s.add(sil("", ("instance", "=~", "web.*")), T0)  # scanned
    second = s.add(sil("", ("instance", "=", "web1")), T0)  # filed
    third = s.add(sil("", ("alertname", "=~", "A|B"), ("instance", "!=", "x")), T0)  # filed
    assert s.muted_by({"alertname": "A", "instance": "web1"}, T0 + 1) == [first, second, third]
    s.add(replace(s.get(first), id=first, comment="longer"), T0 + 2)  # type: ignore[arg-type]
    assert s.muted_by({"alertname": "A", "instance": "web1"}, T0 + 3) == [first, second, third]
    store.close()


NAMES = ("alertname", "instance", "job", "severity", "env")
VALUES = ("a", "b", "c", "web1", "web.1", "")
REGEXES = ("a", "a|b", "b|c|a", "web\\.1", "web.*", ".+", "a|", "(a|b)", "", "web1|web\\.1")


def random_silence(rnd: random.Random, now: float) -> Silence:
    matchers: list[tuple[str, Op, str]] = []
    for _ in range(rnd.randint(1, 3)):
        op: Op = rnd.choice(("=", "=", "=", "=", "!=", "=~", "=~", "!~"))
        value = rnd.choice(REGEXES if op in ("=~", "!~") else VALUES)
        matchers.append((rnd.choice(NAMES), op, value))
    start = now + rnd.uniform(-100, 100)
    return sil("", *matchers, start=start, end=start + rnd.uniform(1, 400))


def random_alert(rnd: random.Random) -> dict[str, str]:
    labels = {n: rnd.choice(VALUES) for n in NAMES if rnd.random() < 0.7}
    if rnd.random() < 0.2:
        labels["other"] = "a"
    return labels


def naive(s: Silences, labels: Mapping[str, str], now: float) -> list[str]:
    """Every silence tried, in the order they are held: the matching before the index."""
    return [x.id for x in s._by_id.values() if x.mutes(labels, now)]


@pytest.mark.parametrize("seed", range(4))
def test_muted_by_answers_what_trying_every_silence_answers(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    store = StateStore(tmp_path)
    s = Silences(store)
    now = T0
    for _ in range(40):
        s.add(random_silence(rnd, now), now)
    checked = muted = 0
    for step in range(120):
        now += rnd.uniform(0, 20)
        op = rnd.random()
        ids = list(s._by_id)
        if op < 0.3:
            s.add(random_silence(rnd, now), now)
        elif op < 0.5 and ids:  # an update: new matchers and times, same id unless expired
            new = random_silence(rnd, now)
            s.add(replace(new, id=rnd.choice(ids)), now)
        elif op < 0.65 and ids:
            s.expire(rnd.choice(ids), now)
        elif op < 0.8:
            s.gc(now)
        elif op < 0.85:
            s = Silences(store)  # as after a restart
        for _ in range(40):
            labels = random_alert(rnd)
            t = now + rnd.uniform(0, 50)
            got = s.muted_by(labels, t)
            assert got == naive(s, labels, t), (step, labels, t)
            checked += 1
            muted += bool(got)
    assert checked == 120 * 40 and 0.05 * checked < muted < 0.95 * checked  # both outcomes seen
    store.close()


def test_expired_silences_leave_the_index_and_still_list(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    sid = s.add(sil("", ("instance", "=", "web1"), end=T0 + 100), T0)
    gone = s.add(sil("", ("instance", "=", "web1"), end=T0 + 50), T0)
    s.gc(T0 + 60)
    assert gone not in s._index and sid in s._index
    s.expire(sid, T0 + 70)
    assert sid not in s._index and len(s._index) == 0
    assert s.muted_by({"instance": "web1"}, T0 + 80) == []
    assert {x.id for x in s.all()} == {sid, gone}  # kept for listing until RETENTION
    store.close()
