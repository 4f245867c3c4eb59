"""Which silences can mute an alert, found without trying every silence.

A silence mutes an alert only when all its matchers match, so a silence with an equality matcher
`name="v"` (v not empty) can only mute alerts that carry exactly that label. Each such silence is
filed under one of its equality matchers, as (name, value): an alert's candidates are the
silences filed under one of its own labels, a dict lookup per label, whatever the number of
silences. A regex matcher that is a plain literal or an alternation of non-empty literals
(`=~"web1|web2"`) is filed the same way, under each literal. Of a silence's fileable matchers the
one whose buckets hold the fewest silences is used (an `alertname` shared by many silences is
passed over for their `instance`).

A silence with another `=~` matcher (one that does not match the empty string) is filed under
that regex, in the RE2 Set of its label name (alerter/dispatch/regexset.py): one pass over an
alert's value per label name that has regex silences finds every pattern that matches it. A
silence is filed under a regex when it has no equality matcher, or when its emptiest equality
buckets already hold `CROWDED` silences (5,000 silences `alertname="Down", instance=~"db7-.*"`
are filed under their regexes); of several regexes, the one with the most literal characters.

What cannot be filed is tried for every alert as before: silences with only negative matchers
(`!=`, `!~`), empty values (`a=""` also matches an alert without `a`), regexes that match the
empty string, and the few regexes whose meaning RE2 might read otherwise than Python's `re`
runs them (regexset.set_pattern). Negative-only silences are not worth indexing: such a silence
mutes nearly every alert (`severity!="critical"`), so it is a match to list, not a candidate to
skip, for most alerts. The index only narrows the candidates: every candidate is still checked
with all its matchers and its times (`Silence.mutes`), so the result is the full scan's.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from typing import Generic, Protocol, TypeVar

from alerter.dispatch.regexset import RegexBuckets, set_pattern, weight
from alerter.rules.matchers import Matcher

_META = frozenset(".^$*+?()[]{}|\\")
_ESCAPABLE = frozenset(string.punctuation)  # `\.` is a literal dot in re and in RE2 alike

Slot = tuple[str, str]
CROWDED = 32  # equality buckets this full: a regex matcher is filed instead, if there is one


class Indexed(Protocol):
    """What the index reads of a silence."""

    @property
    def id(self) -> str: ...

    @property
    def matchers(self) -> tuple[Matcher, ...]: ...


def literals(pattern: str) -> list[str] | None:
    """The strings a fully anchored regex matches when it is a literal or an alternation of
    non-empty literals (escaped punctuation allowed); None for any other regex."""
    alts: list[str] = []
    cur: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n or pattern[i + 1] not in _ESCAPABLE:
                return None  # \d, \w, \n...: a class or a control character
            cur.append(pattern[i + 1])
            i += 2
            continue
        if c == "|":
            if not cur:
                return None  # an empty alternative matches the empty string
            alts.append("".join(cur))
            cur = []
        elif c in _META:
            return None
        else:
            cur.append(c)
        i += 1
    if not cur:
        return None
    alts.append("".join(cur))
    return alts


def fileable(m: Matcher) -> list[str] | None:
    """The values under which a silence with matcher `m` can be filed (`m.name` carries one of
    them in every alert `m` matches), or None."""
    if m.op == "=":
        return [m.value] if m.value else None
    if m.op == "=~":
        return literals(m.value)
    return None


S = TypeVar("S", bound=Indexed)


class SilenceIndex(Generic[S]):
    """Silences by (label name, value) of one fileable matcher each, or by the regex of one
    `=~` matcher, plus those to scan. Not thread-safe: the owner
    (alerter.dispatch.silences.Silences) holds its lock."""

    def __init__(self) -> None:
        self._buckets: dict[Slot, dict[str, S]] = {}
        self._regex: dict[str, RegexBuckets[S]] = {}  # label name -> silences by regex
        self._scan: dict[str, S] = {}  # nothing fileable: tried for every alert
        self._slots: dict[str, tuple[Slot, ...]] = {}  # id -> where it is filed (empty: not)
        self._by_regex: dict[str, Slot] = {}  # id -> (name, Set text) of regex-filed ones

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, sid: str) -> bool:
        return sid in self._slots

    def add(self, s: S) -> None:
        """File `s` (replacing the silence with its id, whose matchers may have changed)."""
        self.remove(s.id)
        best: tuple[Slot, ...] = ()
        best_size = -1
        for m in s.matchers:
            values = fileable(m)
            if values is None:
                continue
            slots = tuple((m.name, v) for v in dict.fromkeys(values))
            size = sum(len(self._buckets.get(slot, ())) for slot in slots)
            if best_size < 0 or size < best_size:
                best, best_size = slots, size
        if not best or best_size >= CROWDED:
            regex = _regex_slot(s.matchers)
            if regex is not None:
                name, pattern = regex
                self._slots[s.id] = ()
                self._by_regex[s.id] = regex
                self._regex.setdefault(name, RegexBuckets()).add(pattern, s)
                return
        self._slots[s.id] = best
        if not best:
            self._scan[s.id] = s
        for slot in best:
            self._buckets.setdefault(slot, {})[s.id] = s

    def remove(self, sid: str) -> None:
        slots = self._slots.pop(sid, None)
        if slots is None:
            return
        regex = self._by_regex.pop(sid, None)
        if regex is not None:
            name, pattern = regex
            rb = self._regex[name]
            rb.remove(pattern, sid)
            if not len(rb):
                del self._regex[name]
            return
        if not slots:
            del self._scan[sid]
        for slot in slots:
            bucket = self._buckets[slot]
            del bucket[sid]
            if not bucket:
                del self._buckets[slot]

    def candidates(self, labels: Mapping[str, str]) -> Iterator[S]:
        """Every silence that may mute an alert with `labels` (each once): those filed under
        one of its labels or under a regex matching one of its labels' values, then those that
        must be scanned."""
        buckets = self._buckets
        if buckets:
            for item in labels.items():
                bucket = buckets.get(item)
                if bucket:
                    yield from bucket.values()
        regex = self._regex
        if regex:
            for name, value in labels.items():
                rb = regex.get(name)
                if rb is not None:
                    yield from rb.candidates(value)
        yield from self._scan.values()


def _regex_slot(matchers: tuple[Matcher, ...]) -> Slot | None:
    """(name, Set text) of the regex matcher to file a silence under, or None."""
    best: tuple[int, Slot] | None = None
    for m in matchers:
        if m.op != "=~":
            continue
        pattern = set_pattern(m)
        if pattern is None:
            continue
        w = weight(m)
        if best is None or w > best[0]:
            best = (w, (m.name, pattern))
    return None if best is None else best[1]
