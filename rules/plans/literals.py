"""The literals a source's plans search a batch for, told present or absent in one pass.

Each plan finds the lines it reads by a literal (`first`, `line_starts`): a batch that lacks
one of the literal's rarest characters is ruled out by a memchr, but a batch that holds them all
and not the literal (a mixed log, a busy host's varied lines) is searched to its end, once per
literal per rule: 27 literals in every shipped pack, about 4 ms per 1 MiB batch. `LiteralSet`
asks RE2's Set (one DFA scan for them all) which of a source's literals a batch holds; a search
for one it lacks then ends at once (`absent`). It is used from MIN_LITERALS on: below that the
plans' own searches are as quick. Pure: no clock, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import re2  # type: ignore[import-untyped]

MIN_LITERALS = 4  # distinct literals a source's plans search for, from which a Set is used


class LiteralSet:
    """A source's literals; `absent(text)`: those the text does not hold."""

    __slots__ = ("_literals", "_set")

    def __init__(self, literals: Iterable[str]) -> None:
        self._literals = tuple(sorted(set(literals)))
        self._set: Any = None  # an RE2 Set
        if len(self._literals) >= MIN_LITERALS:
            s = re2.Set.SearchSet()
            for lit in self._literals:
                s.Add(re2.escape(lit))
            s.Compile()
            self._set = s

    def __len__(self) -> int:
        return len(self._literals)

    def absent(self, text: str) -> frozenset[str]:
        """The literals the text does not hold (none, when the set is not used)."""
        if self._set is None:
            return frozenset()
        found = self._set.Match(text) or ()
        lits = self._literals
        if len(found) == len(lits):
            return frozenset()
        held = set(found)
        return frozenset(lit for i, lit in enumerate(lits) if i not in held)
