"""The silence index: an alert's candidates are found per label, and `muted_by` answers exactly
what trying every silence answers (randomized silences, alerts, updates, expiry, gc, reload)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from alerter.core.saferegex import is_re2
from alerter.dispatch import regexset, silenceindex
from alerter.dispatch.silenceindex import CROWDED, SilenceIndex, literals
from alerter.dispatch.silences import Silence, Silences
from alerter.rules.matchers import Matcher, Op
from alerter.store.db import StateStore

T0 = 1_700_000_000.0
pytestmark = pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # [[:alpha:]]


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


@pytest.fixture
def build_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regex Sets rebuilt at the first match after any change (not after REBUILD_AFTER)."""
    monkeypatch.setattr(regexset, "REBUILD_AFTER", 0)


def ids(index: SilenceIndex[Silence], labels: Mapping[str, str]) -> list[str]:
    return [s.id for s in index.candidates(labels)]


@pytest.mark.usefixtures("build_at_once")
def test_an_alert_is_offered_only_the_silences_filed_under_its_labels() -> None:
    index: SilenceIndex[Silence] = SilenceIndex()
    for i in range(5000):  # every silence shares alertname: filed under its instance instead
        index.add(sil(f"s{i}", ("alertname", "=", "Down"), ("instance", "=", f"host{i}")))
    index.add(sil("alt", ("instance", "=~", "db1|db2"), ("severity", "!=", "info")))
    index.add(sil("neg", ("instance", "!=", "x"), ("job", "!~", "n.*")))  # scanned
    index.add(sil("rx", ("instance", "=~", "web.*")))  # filed under its regex
    index.add(sil("empty", ("instance", "=~", "web.*|")))  # matches "": scanned
    found = ids(index, {"alertname": "Down", "instance": "host42"})
    assert "s42" in found and set(found) <= {"s0", "s42", "neg", "empty"}
    assert ids(index, {"instance": "db2", "job": "x"}) == ["alt", "neg", "empty"]
    assert ids(index, {"instance": "web7", "job": "x"}) == ["rx", "neg", "empty"]
    assert ids(index, {"job": "web7"}) == ["neg", "empty"]  # the regex is on instance
    index.remove("s42")
    index.remove("alt")
    index.remove("rx")
    assert "s42" not in ids(index, {"alertname": "Down", "instance": "host42"})
    assert ids(index, {"instance": "db2"}) == ["neg", "empty"]
    assert ids(index, {"instance": "web7"}) == ["neg", "empty"]
    assert len(index) == 5000 + 4 - 3


@pytest.mark.usefixtures("build_at_once")
def test_regex_silences_are_found_by_the_regexes_matching_the_value() -> None:
    index: SilenceIndex[Silence] = SilenceIndex()
    for i in range(5000):
        index.add(sil(f"r{i}", ("instance", "=~", f"db{i}-.*"), ("severity", "!=", "info")))
    for i in range(5000):  # their alertname is shared by all: filed under the regex
        index.add(sil(f"c{i}", ("alertname", "=", "Down"), ("host", "=~", f"web-{i}\\..+")))
    index.add(sil("two", ("instance", "=~", "db.*"), ("job", "=~", "node-exp.*")))
    assert ids(index, {"instance": "db42-x", "severity": "page"}) == ["r42"]
    assert ids(index, {"instance": "db42-x", "job": "node-exporter"}) == ["r42", "two"]
    crowd = [f"c{i}" for i in range(CROWDED)]  # filed under alertname until it was crowded
    assert ids(index, {"alertname": "Down", "host": "web-4242.example"}) == [*crowd, "c4242"]
    assert ids(index, {"alertname": "Down", "host": "web-4242."}) == crowd
    assert ids(index, {"instance": "db42", "job": "x"}) == []
    assert all(rb.sets == 1 for rb in index._regex.values())
    assert list(index._buckets) == [("alertname", "Down")] and index._scan == {}


def test_an_updated_silence_is_refiled_under_its_new_matchers(build_at_once: None) -> None:
    index: SilenceIndex[Silence] = SilenceIndex()
    index.add(sil("a", ("instance", "=", "web1")))
    index.add(sil("a", ("instance", "=", "web2")))
    assert ids(index, {"instance": "web1"}) == []
    assert ids(index, {"instance": "web2"}) == ["a"]
    index.add(sil("a", ("instance", "=~", "web.*")))
    assert ids(index, {"instance": "db"}) == []
    assert ids(index, {"instance": "web1"}) == ["a"]
    index.add(sil("a", ("instance", "!~", "web.*")))  # now scanned
    assert ids(index, {"instance": "db"}) == ["a"]
    assert len(index) == 1 and index._regex == {}


def test_matches_are_listed_oldest_first_whichever_way_they_were_found(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    s = Silences(store)
    first = s.add(sil("", ("instance", "=~", "web.*")), T0)  # scanned
    second = s.add(sil("", ("instance", "=", "web1")), T0)  # filed
    third = s.add(sil("", ("alertname", "=~", "A|B"), ("instance", "!=", "x")), T0)  # filed
    assert s.muted_by({"alertname": "A", "instance": "web1"}, T0 + 1) == [first, second, third]
    old = s.get(first)
    assert old is not None
    s.add(replace(old, id=first, comment="longer"), T0 + 2)
    assert s.muted_by({"alertname": "A", "instance": "web1"}, T0 + 3) == [first, second, third]
    store.close()


NAMES = ("alertname", "instance", "job", "severity", "env")
VALUES = ("a", "b", "c", "web1", "web.1", "", "db7-x", "web12", "A", "ab", "a]", "a\v", "a\n")
ODD_VALUES = ("\u212a", "k", "ab", "a b", "\ud800")  # Kelvin sign; a lone surrogate
REGEXES = (
    *("a", "a|b", "b|c|a", "web\\.1", "web.*", ".+", "a|", "(a|b)", "", "web1|web\\.1"),
    *("web[0-9]+", "db[0-9]-.*", "(web|db).*", "\\w+", "[^a]", ".*1", "x*"),
    # read differently by Python's re and RE2 (matchers run in RE2 only: Alertmanager's meaning)
    *("a\\s", "a\\S", "a$\n", "a{,3}b", "[[:alpha:]]", "(?i)[^k]", "(?i)k", "(?i)A|b"),
    *("(?i:[^k])", "(?i:k)", "(?i:[^j-l])"),
)


def random_silence(rnd: random.Random, now: float) -> Silence:
    matchers: list[tuple[str, Op, str]] = []
    for _ in range(rnd.randint(1, 3)):
        op: Op = rnd.choice(("=", "=", "=", "=", "!=", "=~", "=~", "=~", "!~"))
        value = rnd.choice(REGEXES if op in ("=~", "!~") else VALUES)
        matchers.append((rnd.choice(NAMES), op, value))
    start = now + rnd.uniform(-100, 100)
    return sil("", *matchers, start=start, end=start + rnd.uniform(1, 400))


def random_alert(rnd: random.Random) -> dict[str, str]:
    labels = {n: rnd.choice(VALUES) for n in NAMES if rnd.random() < 0.7}
    if rnd.random() < 0.1:
        labels[rnd.choice(NAMES)] = rnd.choice(ODD_VALUES[:-1])
    if rnd.random() < 0.2:
        labels["other"] = "a"
    return labels


def naive(s: Silences, labels: Mapping[str, str], now: float) -> list[str]:
    """Every silence tried, in the order they are held: the matching before the index."""
    return [x.id for x in s._by_id.values() if x.mutes(labels, now)]


# (REBUILD_AFTER, CROWDED, MAX_MEM): regex Sets built at once / after a few changes / as
# shipped; equality preferred / regexes preferred; Sets too big to compile (split, or loose)
CONFIGS = {
    "at-once": (0, 32, regexset.MAX_MEM),
    "after-3": (3, 32, regexset.MAX_MEM),
    "shipped": (regexset.REBUILD_AFTER, CROWDED, regexset.MAX_MEM),
    "regex-first": (0, 1, regexset.MAX_MEM),
    "split": (0, 1, 7000),  # bytes: the Sets are split in groups of 2-3
    "loose": (0, 1, 4000),  # most groups fail even at FLOOR: their patterns are offered always
}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_muted_by_answers_what_trying_every_silence_answers(
    tmp_path: Path, seed: int, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuild_after, crowded, max_mem = CONFIGS[config]
    monkeypatch.setattr(regexset, "REBUILD_AFTER", rebuild_after)
    monkeypatch.setattr(regexset, "MAX_MEM", max_mem)
    monkeypatch.setattr(regexset, "FLOOR", 2)
    monkeypatch.setattr(silenceindex, "CROWDED", crowded)
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


def set_answers(pattern: str, values: list[str]) -> list[bool]:
    rs = regexset.new_set()
    rs.Add(pattern)
    rs.Compile()
    return [bool(rs.Match(v)) for v in values]


@pytest.mark.parametrize("regex", REGEXES)
def test_a_regex_set_never_answers_less_than_the_matchers_own_regex(regex: str) -> None:
    m = Matcher.create("x", "=~", regex)
    pattern = regexset.set_pattern(m)
    if pattern is None:
        return
    values = [*VALUES, *ODD_VALUES[:-1], "ab", "a\u017f", "K"]
    own = [m.matches({"x": v}) for v in values]
    assert all(s or not o for s, o in zip(set_answers(pattern, values), own, strict=True))


@pytest.mark.parametrize(
    ("regex", "value"),  # a value the regex would match in Python's re and does not in RE2
    [
        ("a\\s", "a\v"),
        ("a$\n", "a\n"),
        ("a{,3}b", "ab"),
        ("[[:alpha:]]", "a]"),
        ("(?i:[^k])", "\u212a"),
        ("x(?i:[^j-l])", "x\u212a"),
    ],
)
def test_regexes_the_two_engines_read_differently_mean_in_a_set_what_they_mean_alone(
    regex: str, value: str
) -> None:
    m = Matcher.create("x", "=~", regex)  # RE2 only (rules/matchers.py): Alertmanager's meaning
    assert is_re2(m.regex) and not m.matches({"x": value})
    pattern = regexset.set_pattern(m)
    assert pattern is not None and set_answers(pattern, [value]) == [False]


def test_a_failed_set_match_offers_every_pattern(
    build_at_once: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Failing:  # RE2::Set::Match out of DFA memory: an empty answer
        def __init__(self) -> None:
            self.rs = real()

        def Add(self, pattern: str) -> int:
            return int(self.rs.Add(pattern))

        def Compile(self) -> None:
            self.rs.Compile()

        def Match(self, value: str) -> None:
            return None

    real = regexset.new_set
    monkeypatch.setattr(regexset, "new_set", Failing)
    index: SilenceIndex[Silence] = SilenceIndex()
    index.add(sil("a", ("instance", "=~", "web.*")))
    index.add(sil("b", ("instance", "=~", "db.*")))
    assert ids(index, {"instance": "x"}) == ["a", "b"]
    assert [s.id for s in index.candidates({"job": "x"})] == []


def test_a_value_re2_cannot_take_offers_every_pattern(build_at_once: None) -> None:
    index: SilenceIndex[Silence] = SilenceIndex()
    index.add(sil("a", ("instance", "=~", "[^k]")))  # (RE2 alone reads it as U+FFFD)
    index.add(sil("b", ("instance", "=~", "db.*")))
    assert ids(index, {"instance": "\ud800"}) == ["a", "b"]  # not UTF-8: RE2 cannot match it
    assert ids(index, {"instance": "q"}) == ["a"]


@pytest.mark.parametrize("max_mem", [7000, 4000])
def test_patterns_too_big_for_one_set_are_split_or_offered_always(
    build_at_once: None, monkeypatch: pytest.MonkeyPatch, max_mem: int
) -> None:
    monkeypatch.setattr(regexset, "MAX_MEM", max_mem)
    monkeypatch.setattr(regexset, "FLOOR", 2)
    regexes = ["web[0-9]+", "db[0-9]-.*", "(web|db).*", "\\w+", "[^a]", ".*1", "a|b", ".+", "k"]
    index: SilenceIndex[Silence] = SilenceIndex()
    for i, rx in enumerate(regexes):
        index.add(sil(f"s{i}", ("instance", "=~", rx)))
    values = ["web1", "db1-x", "a", "b", "k", "x y", "web"]
    for v in values:
        got = ids(index, {"instance": v})
        want = [
            f"s{i}"
            for i, rx in enumerate(regexes)
            if Matcher.create("x", "=~", rx).matches({"x": v})
        ]
        assert set(want) <= set(got)
    rb = index._regex["instance"]
    if max_mem == 7000:  # split into Sets that each find only their matches
        assert rb.sets > 1 and not rb._loose
        assert sorted(ids(index, {"instance": "db1-x"})) == ["s1", "s2", "s7"]
    else:  # groups that still fail at FLOOR patterns are offered for every value
        assert rb._loose and len(ids(index, {"instance": "\u00e9\u00e9"})) >= len(rb._loose)
