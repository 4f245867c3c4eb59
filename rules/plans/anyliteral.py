"""`AnyLiteralScan`: lines holding one of a few literals, for a regex whose matches share no
single literal but each contains one of its alternatives' (sshd's refused connections:
`maximum authentication attempts exceeded for ... from`, `Disconnecting: Too many
authentication failures`, `Connection closed by`, ...). One regex of the escaped literals scans
the batch; each line it finds is judged on its own (`LogRule.observe`), as `LiteralScan` does
for one literal. Without it such a rule judges every line of every batch (`EveryLine`).

`any_literals` reads the parse tree (rules/prefilter.py's `parse`): a sequence needs one of its
items' sets, an alternation the union of one set per alternative, a repeat of at least one turn
its body's; optional parts, classes and anything else give none. Each literal is at least
`MIN_CHARS` long, and at most `MAX_LITERALS` are used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alerter.rules.plans.base import SEP, Facts, Pass, Plan
from alerter.rules.prefilter import NotParsed, parse

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule

MIN_CHARS = 4
MAX_LITERALS = 24

Lits = frozenset[str]


def _score(lits: Lits) -> tuple[int, int]:
    """Fewer and longer literals find fewer lines that do not match."""
    return (min(len(x) for x in lits), -len(lits))


def _best(cands: list[Lits]) -> Lits | None:
    ok = [
        c
        for c in cands
        if c
        and len(c) <= MAX_LITERALS
        and min(map(len, c)) >= MIN_CHARS
        and not any(SEP in x for x in c)
    ]
    return max(ok, key=_score) if ok else None


def _seq(items: list[Any]) -> Lits | None:
    cands: list[Lits] = []
    run: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            run.append(chr(arg))
            continue
        if run:
            cands.append(frozenset(["".join(run)]))
            run = []
        if name == "SUBPATTERN":
            # (?i:...) matches its letters in either case: no literal inside
            sub = None if arg[1] & re.IGNORECASE else _seq(list(arg[3]))
            if sub is not None:
                cands.append(sub)
        elif name == "BRANCH":
            subs = [_seq(list(alt)) for alt in arg[1]]
            if all(s is not None for s in subs):
                cands.append(frozenset().union(*subs))  # type: ignore[arg-type]
        elif name in ("MAX_REPEAT", "MIN_REPEAT") and arg[0] >= 1:
            sub = _seq(list(arg[2]))
            if sub is not None:
                cands.append(sub)
    if run:
        cands.append(frozenset(["".join(run)]))
    return _best(cands)


def any_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Literals one of which every match contains (sorted), or None."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        tree = parse(pattern)
    except NotParsed:
        return None
    found = _seq(tree)
    return tuple(sorted(found)) if found is not None else None


@dataclass(frozen=True, slots=True)
class AnyLiteralScan(Plan):
    """Lines holding one of `literals`, found by one scan of the batch, each judged on its own."""

    literals: tuple[str, ...]
    finder: re.Pattern[str]

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        if f.literal is not None or f.match is None:
            return None
        lits = any_literals(f.match)
        if lits is None:
            return None
        return cls(lits, re.compile("|".join(map(re.escape, lits))))

    @property
    def label(self) -> str:
        return f"AnyLiteralScan({len(self.literals)})"

    def run(self, r: LogRule, p: Pass) -> None:
        batch, now, out = p.batch, p.now, p.out
        text, lines = batch.text, batch.lines
        assert text is not None
        bucket = r.bucket(now)
        idx = last = 0
        end = -1
        find = text.find
        for m in self.finder.finditer(text):
            pos = m.start()
            if pos < end:
                continue  # another literal in the line just judged
            idx += text.count(SEP, last, pos)
            r.observe(batch, idx, lines[idx], now, bucket, out)
            end = find(SEP, pos)
            if end < 0:
                return
            idx += 1
            last = end + 1
