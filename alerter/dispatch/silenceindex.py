"""Which silences can mute an alert, found without trying every silence.

A silence mutes an alert only when all its matchers match, so a silence with an equality matcher
`name="v"` (v not empty) can only mute alerts that carry exactly that label. Each such silence is
filed under one of its equality matchers, as (name, value): an alert's candidates are the
silences filed under one of its own labels, a dict lookup per label, whatever the number of
silences. A regex matcher that is a plain literal or an alternation of non-empty literals
(`=~"web1|web2"`) is filed the same way, under each literal. Of a silence's fileable matchers the
one whose buckets hold the fewest silences is used (an `alertname` shared by many silences is
passed over for their `instance`). What cannot be filed is tried for every alert as before:
silences with only negative matchers (`!=`, `!~`), empty values (`a=""` also matches an alert
without `a`), or regexes. The index only narrows the candidates: every candidate is still
checked with all its matchers and its times (`Silence.mutes`), so the result is the full scan's.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from typing import Generic, Protocol, TypeVar

from rules.matchers import Matcher

_META = frozenset(".^$*+?()[]{}|\\")
_ESCAPABLE = frozenset(string.punctuation)  # `\.` is a literal dot in re and in RE2 alike

Slot = tuple[str, str]


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
    """Silences by (label name, value) of one fileable matcher each, plus those to scan.
    Not thread-safe: the owner (alerter.dispatch.silences.Silences) holds its lock."""

    def __init__(self) -> None:
        self._buckets: dict[Slot, dict[str, S]] = {}
        self._scan: dict[str, S] = {}  # no fileable matcher: tried for every alert
        self._slots: dict[str, tuple[Slot, ...]] = {}  # id -> where it is filed (empty: _scan)

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
        self._slots[s.id] = best
        if not best:
            self._scan[s.id] = s
        for slot in best:
            self._buckets.setdefault(slot, {})[s.id] = s

    def remove(self, sid: str) -> None:
        slots = self._slots.pop(sid, None)
        if slots is None:
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
        one of its labels, then those that must be scanned."""
        buckets = self._buckets
        if buckets:
            for item in labels.items():
                bucket = buckets.get(item)
                if bucket:
                    yield from bucket.values()
        yield from self._scan.values()
