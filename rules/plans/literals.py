"""The literals a source's plans search a batch for, told present or absent in one pass.

Each plan finds the lines it reads by a literal (`first`, `line_starts`): a batch that lacks
one of the literal's rarest characters is ruled out by a memchr, but a batch that holds them all
and not the literal (a mixed log, a busy host's varied lines) is searched to its end, once per
literal per rule: 27 literals in every shipped pack, about 4 ms per 1 MiB batch. `LiteralSet`
asks RE2's Set (one DFA scan for them all) which of a source's literals a batch holds; a search
for one it lacks then ends at once (`absent`). It is used from MIN_LITERALS on: below that the
plans' own searches are as quick.

The Set's scan costs about as much as searching 1 MiB for 3-4 short literals (1.6 ms per MiB
here, against 0.1 ms + 2.8 ms / length for a literal the text lacks but holds every character
of; measured on the bench's mixed log). So it pays only where several literals are absent: a
source whose batches hold nearly every literal (an auth.log read by the sshd pack alone) would
pay the scan and save little. After each scan the searches it spared are estimated by that
model (a literal one of whose rarest characters the text lacks is ruled out by memchr anyway:
nothing spared); when they fall below the scan's cost, the next SKIP_BATCHES batches are
searched by the plans alone, then the Set is tried again.

Many literals (a user's hundreds of rules, one per error code or client) cost a search of the
whole batch each, and the keyed plans a scan each from the first line holding it: 2000 rules
took 0.45 s a 1 MiB batch. From INDEX_LITERALS present literals on, `starts` finds the lines
holding any of them in one RE2 scan (an alternation of them all), asks the Set which ones each
such line holds, and gives every literal its lines' starts (`Pass.starts`, which the plans read
before searching themselves): about 5 µs a line found (25 ms for that batch). It stops once the
lines found cost more than the plans' own searches would (FIND_PRESENT_MS a literal against
LINE_MS a line), and leaves the next SKIP_BATCHES batches to the plans. Pure: no clock, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import re2  # type: ignore[import-untyped]

from alerter.core.re2engine import any_of
from alerter.rules.prefilter import rare_chars

MIN_LITERALS = 4  # distinct literals a source's plans search for, from which a Set is used
INDEX_LITERALS = 64  # literals a text holds, from which `starts` finds their lines at once
# a plan's own search of 1 MiB for a literal the text holds (str.find, then its scan), and
# `starts`' work for one line holding some literal (two RE2 calls), in ms
FIND_PRESENT_MS, LINE_MS = 0.2, 0.005
SKIP_BATCHES = 32  # batches searched without the Set after a scan that spared less than it cost
# a literal's search through a text that lacks it, in Set scans of the same text: 0.1 + 2.8 /
# length ms per MiB against 1.6
SCAN_MS, FIND_MS, FIND_MS_CHAR = 1.6, 0.1, 2.8


class LiteralSet:
    """A source's literals; `absent(text)`: those the text does not hold."""

    __slots__ = ("_any", "_cost", "_index_skip", "_literals", "_rare", "_set", "_skip")

    def __init__(self, literals: Iterable[str]) -> None:
        self._literals = tuple(sorted(set(literals)))
        self._rare = tuple(map(rare_chars, self._literals))
        self._cost = tuple(
            (FIND_MS + FIND_MS_CHAR / max(1, len(w))) / SCAN_MS for w in self._literals
        )
        self._skip = self._index_skip = 0
        self._set: Any = None  # an RE2 Set
        self._any: Any = None  # an RE2 program: any of the literals (`starts`)
        if len(self._literals) >= MIN_LITERALS:
            try:
                s = re2.Set.SearchSet()
                for lit in self._literals:
                    s.Add(re2.escape(lit))
                s.Compile()
            except (re2.error, UnicodeEncodeError):  # (RE2's memory budget; a lone surrogate)
                return  # the plans search for each literal themselves
            self._set = s
        if len(self._literals) >= INDEX_LITERALS and all(
            w.isascii() and "?" not in w and "\n" not in w for w in self._literals
        ):
            try:
                self._any = any_of(self._literals)
            except (ValueError, UnicodeEncodeError):  # (RE2's memory budget)
                self._any = None

    def __len__(self) -> int:
        return len(self._literals)

    def absent(self, text: str) -> frozenset[str]:
        """The literals the text does not hold (none, when the set is not used)."""
        if self._set is None:
            return frozenset()
        if self._skip:
            self._skip -= 1
            return frozenset()
        try:
            found = self._set.Match(text) or ()
        except UnicodeEncodeError:  # a lone surrogate (a journal entry's JSON may hold one)
            return frozenset()
        lits = self._literals
        held = set(found)
        gone = [i for i in range(len(lits)) if i not in held]
        spared = sum(
            self._cost[i] for i in gone if all(c in text for c in self._rare[i])
        )  # (memchr: a character found stops it)
        if spared < 1.0:
            self._skip = SKIP_BATCHES
        return frozenset(lits[i] for i in gone)

    @property
    def indexes(self) -> bool:
        """Whether `starts` may find the literals' lines (there are INDEX_LITERALS of them)."""
        return self._any is not None and self._set is not None

    def starts(self, text: str, absent: frozenset[str]) -> dict[str, list[int]] | None:
        """Where the lines holding each literal the text holds start, in order (every literal
        not in `absent` has its list), found in one pass; None where the plans' own searches
        are cheaper: fewer than INDEX_LITERALS literals held, or more such lines than the
        plans' searches would cost. (Only for literals of ASCII without "?" or a newline.)"""
        if not self.indexes:
            return None
        if self._index_skip:
            self._index_skip -= 1
            return None
        held = len(self._literals) - len(absent)
        if held < INDEX_LITERALS:
            return None
        # one byte a character: a character outside ASCII (or a lone surrogate) becomes "?",
        # which none of the literals holds, so each is found where it is in the text
        data = text.encode("ascii", "replace")
        n = len(data)
        budget = held * FIND_PRESENT_MS * n / (1 << 20) / LINE_MS
        lits = self._literals
        out: dict[str, list[int]] = {w: [] for w in lits if w not in absent}
        search, which, find, rfind = self._any, self._set.Match, data.find, data.rfind
        pos = found = 0
        while pos <= n:
            at, end = search(data, pos)
            if at < 0:
                break
            found += 1
            if found > budget:
                self._index_skip = SKIP_BATCHES
                return None
            nl = rfind(b"\n", pos, at)
            start = pos if nl < 0 else nl + 1
            nl = find(b"\n", end)
            stop = n if nl < 0 else nl
            for i in which(data[start:stop]) or ():
                out[lits[i]].append(start)
            pos = stop + 1
        return out
