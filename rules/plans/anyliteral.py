"""`AnyLiteralScan`: lines holding one of a few literals, for a regex whose matches share no
single literal but each contains one of its alternatives' (sshd's refused connections:
`maximum authentication attempts exceeded for ... from`, `Disconnecting: Too many
authentication failures`, `Connection closed by`, ...). Each literal is found in the batch by
str.find (after a memchr for its rarest characters); each line holding one is judged on its
own (`LogRule.observe`), in order, as `LiteralScan` does for one literal. Without it such a
rule judges every line of every batch (`EveryLine`).

It is chosen over `LiteralScan` when the one literal every match holds is weaker than each
of the few (` from ` in any sshd line against `Failed ` or `PAM: `).

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

from alerter.rules.plans.base import SEP, Facts, Pass, Plan, first
from alerter.rules.prefilter import NotParsed, parse, rare_chars

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule

MIN_CHARS = 4
MAX_LITERALS = 24

Lits = frozenset[str]


def quality(literal: str) -> int:
    """How few lines a literal is likely to be in: its length, a capital counting 4 (capitals
    are rarer in log text than any small letter, as rules/prefilter.py ranks them)."""
    return len(literal) + 3 * sum(c.isupper() for c in literal)


def _score(lits: Lits) -> tuple[int, int]:
    """The weakest literal decides; then fewer literals."""
    return (min(map(quality, lits)), -len(lits))


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


def tree_literals(items: list[Any]) -> Lits | None:
    """Literals one of which every match of a parsed pattern (or part of one) holds, or None."""
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
            sub = None if arg[1] & re.IGNORECASE else tree_literals(list(arg[3]))
            if sub is not None:
                cands.append(sub)
        elif name == "BRANCH":
            subs = [tree_literals(list(alt)) for alt in arg[1]]
            if all(s is not None for s in subs):
                cands.append(frozenset().union(*subs))  # type: ignore[arg-type]
        elif name in ("MAX_REPEAT", "MIN_REPEAT") and arg[0] >= 1:
            sub = tree_literals(list(arg[2]))
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
    found = tree_literals(tree)
    return tuple(sorted(found)) if found is not None else None


@dataclass(frozen=True, slots=True)
class AnyLiteralScan(Plan):
    """Lines holding one of `literals`, found by str.find, each judged on its own, in order."""

    literals: tuple[str, ...]
    rare: tuple[str, ...]  # each literal's rarest characters: a batch lacking one lacks it

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        if f.match is None:
            return None
        lits = any_literals(f.match)
        if lits is None or lits == (f.literal,):
            return None
        if f.literal is not None and min(map(quality, lits)) <= quality(f.literal):
            return None  # the one literal every match holds is as good: LiteralScan
        return cls(lits, tuple(map(rare_chars, lits)))

    @property
    def label(self) -> str:
        return f"AnyLiteralScan({len(self.literals)})"

    def searched(self) -> tuple[str, ...]:
        return self.literals

    def run(self, r: LogRule, p: Pass) -> None:
        batch, now, out = p.batch, p.now, p.out
        text, lines = batch.text, batch.lines
        assert text is not None
        starts = line_starts(text, self.literals, self.rare, p.absent, p.starts)
        if not starts:
            return
        bucket = r.bucket(now)
        idx = last = 0
        for at in starts:
            idx += text.count(SEP, last, at)
            last = at
            r.observe(batch, idx, lines[idx], now, bucket, out)


def line_starts(
    text: str,
    literals: tuple[str, ...],
    rare: tuple[str, ...],
    absent: frozenset[str] = frozenset(),
    cache: dict[str, list[int]] | None = None,
) -> list[int]:
    """Where each line of the text holding one of the literals starts, in order (`absent`:
    literals the text is known to lack; `cache`: each literal's line starts in this text,
    `Pass.starts`, read and filled). The list returned may be the cache's: not to be changed."""
    parts = []
    for lit, rs in zip(literals, rare, strict=True):
        got = cache.get(lit) if cache is not None else None
        if got is None:
            got = _starts(text, lit, rs, absent)
            if cache is not None:
                cache[lit] = got
        if got:
            parts.append(got)
    if len(parts) <= 1:
        return parts[0] if parts else []
    return sorted(set().union(*parts))


def _starts(text: str, lit: str, rare: str, absent: frozenset[str]) -> list[int]:
    """Where each line of the text holding `lit` starts, in order."""
    find, rfind = text.find, text.rfind
    out = []
    pos = first(lit, rare, text, absent)
    while pos >= 0:
        out.append(rfind(SEP, 0, pos) + 1)
        end = find(SEP, pos)
        if end < 0:
            break
        pos = find(lit, end + 1)
    return out
