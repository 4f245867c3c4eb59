"""`AttemptScan`: a keyed count rule with `attempts` (rules/connections.py `AttemptSpec`,
builtin:sshd's SSHBruteForce) whose matches each hold one of a few literals. As
`KeyedAnyGated` (rules/plans/keyedany.py) each line holding one is searched in place and the
matches gathered per key in C; a match where one of the `attempts` address groups took part
(its key group did not) is judged by the rule's connection state with the match in hand
(`LogRule.judge_attempt`), in order, instead of being searched again by `LogRule.observe`.
Chosen only for a rule with `attempts`; like the keyed plans it is wrapped in `Fieldless`
when the rule has a `where` (plans.plan_for)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerter.rules.plans.anyliteral import line_starts
from alerter.rules.plans.base import SEP, Facts, Pass, Plan
from alerter.rules.plans.keyed import Keys, gather
from alerter.rules.plans.keyedany import KeyedAnyGated

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule


@dataclass(frozen=True, slots=True)
class AttemptScan(Plan):
    pattern: re.Pattern[str]  # the rule's regex for a line of the batch, searched in place
    literals: tuple[str, ...]
    rare: tuple[str, ...]
    keys: Keys
    address: tuple[int, ...]  # the `attempts` address groups

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        spec = f.rule.attempts
        if spec is None:
            return None
        inner = KeyedAnyGated.choose(f, then)
        if not isinstance(inner, KeyedAnyGated):
            return None
        groups = tuple(f.groups[g] for g in spec.address)
        return cls(inner.pattern, inner.literals, inner.rare, inner.keys, groups)

    @property
    def label(self) -> str:
        return f"AttemptScan({len(self.literals)})"

    def run(self, r: LogRule, p: Pass) -> None:
        batch = p.batch
        text = batch.text
        assert text is not None
        starts = line_starts(text, self.literals, self.rare)
        if not starts:
            return
        find, search, size = text.find, self.pattern.search, len(text)
        ms = []
        for at in starts:
            end = find(SEP, at)
            m = search(text, at, size if end < 0 else end)
            if m is not None:
                ms.append(m)
        if ms:
            ms = self.keys.kept(text, ms)
        if not ms:
            return
        # the judged lines first (the connection state reads and writes only them, in
        # order), then the keyed matches gathered in runs between the judged lines that
        # count: each key's lines are counted in the batch's order (its examples too)
        address, count, rfind = self.address, text.count, text.rfind
        now = p.now
        keyed = [not any(m.group(g) is not None for g in address) for m in ms]
        counted: list[tuple[int, str, int, str]] = []  # (place in ms, address, events, line)
        idx = last = 0
        for i, m in enumerate(ms):
            if keyed[i]:
                continue
            at = rfind(SEP, 0, m.start()) + 1
            idx += count(SEP, last, at)
            last = at
            got = r.attempt(batch, idx, m, now)
            if got is not None:
                end = find(SEP, at)
                counted.append((i, *got, text[at : size if end < 0 else end]))
        bucket = r.bucket(now)
        start = 0
        for i, addr, n, line in counted:
            run = [m for m, k in zip(ms[start:i], keyed[start:i], strict=True) if k]
            if run:
                gather(self.keys, r, run, p)
            r.count_for(addr, n, line, now, bucket, p.out)
            start = i + 1
        run = [m for m, k in zip(ms[start:], keyed[start:], strict=True) if k]
        if run:
            gather(self.keys, r, run, p)
