"""`KeyedAnyGated`: a keyed rule (rules/plans/keyed.py) whose matches share no good literal but
each hold one of a few (rules/plans/anyliteral.py), e.g. builtin:sshd's failures (`Failed `,
`PAM: `): the lines holding one are found by str.find, each searched in place, and the
matches gathered per key in C (`gather`), instead of each line judged on its own
(`AnyLiteralScan`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerter.rules.plans.anyliteral import AnyLiteralScan, line_starts
from alerter.rules.plans.base import SEP, Facts, Pass, Plan
from alerter.rules.plans.keyed import Keys, gather_kept
from alerter.rules.prefilter import bounded_pattern

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule


@dataclass(frozen=True, slots=True)
class KeyedAnyGated(Plan):
    """Each line holding one of `literals` searched in place (`pattern`: the rule's regex for
    a line of the batch, ending at the line's end), the matches gathered per key."""

    pattern: re.Pattern[str]
    literals: tuple[str, ...]
    rare: tuple[str, ...]
    keys: Keys

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        if not f.keyed or f.match is None:
            return None
        scan = AnyLiteralScan.choose(f, then)
        if not isinstance(scan, AnyLiteralScan):
            return None
        rx = bounded_pattern(f.match)
        if rx is None:
            return None
        return cls(rx, scan.literals, scan.rare, Keys.of(f))

    @property
    def label(self) -> str:
        return f"KeyedAnyGated({len(self.literals)})"

    def searched(self) -> tuple[str, ...]:
        return self.literals

    def run(self, r: LogRule, p: Pass) -> None:
        text = p.batch.text
        assert text is not None
        starts = line_starts(text, self.literals, self.rare, p.absent, p.starts)
        if not starts:
            return
        find, search, size = text.find, self.pattern.search, len(text)
        ms = []
        for at in starts:
            end = find(SEP, at)
            m = search(text, at, size if end < 0 else end)
            if m is not None:
                ms.append(m)
        gather_kept(self.keys, r, ms, p)
