"""`ConnectionScan`: a count rule with connection state (`connection: {id, tells}`, builtin:sshd's
SSHAuthRefused) whose matches each hold one of a few literals. Most of the lines it reads only
tell their connection's address (sshd's `Failed ...` and `Invalid user ...` lines); on a batch
whose lines cannot have the fields its `where` reads (which every line then passes) such a line goes straight to the connection
state (`LogRule.tell`: its pid and address, from the match found in place), and only the
lines that count are judged by `LogRule.observe`. Any other batch is read by the rule's
other plan (`fallback`, each line judged by `observe`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerter.rules.plans.anyliteral import AnyLiteralScan, line_starts
from alerter.rules.plans.base import SEP, Facts, Pass, Plan
from alerter.rules.prefilter import bounded_pattern

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule


@dataclass(frozen=True, slots=True)
class ConnectionScan(Plan):
    pattern: re.Pattern[str]  # the rule's regex for a line of the batch, searched in place
    literals: tuple[str, ...]
    rare: tuple[str, ...]
    conn: int  # the connection id's group
    tells: tuple[int, ...]  # the groups that tell an address
    ends: frozenset[int]  # those of them that end their connection
    exclude: re.Pattern[str] | None
    fallback: Plan
    where_names: frozenset[str]  # the fields the `where` reads

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        rule = f.rule
        c = rule.connection
        ok = (
            f.aggregate == "count"
            and c is not None
            and c in f.groups
            and f.match is not None
            and f.where_empty_ok
            and all(t in f.groups for t in rule.tells)
        )
        if not ok or f.match is None or c is None:
            return None
        scan = then()
        if not isinstance(scan, AnyLiteralScan):
            return None
        rx = bounded_pattern(f.match)
        if rx is None:
            return None
        sel = rule.logs
        return cls(
            rx,
            scan.literals,
            scan.rare,
            f.groups[c],
            tuple(f.groups[t] for t in rule.tells),
            frozenset(f.groups[t] for t in rule.connection_ends),
            sel.exclude if sel is not None else None,
            scan,
            frozenset(mt.name for mt in sel.where) if sel is not None else frozenset(),
        )

    @property
    def label(self) -> str:
        return f"ConnectionScan({len(self.literals)}, else {self.fallback.label})"

    def searched(self) -> tuple[str, ...]:
        return (*self.literals, *self.fallback.searched())

    def run(self, r: LogRule, p: Pass) -> None:
        batch, now, out = p.batch, p.now, p.out
        names = batch.field_names
        if names is None or not names.isdisjoint(self.where_names):
            self.fallback.run(r, p)
            return
        text = batch.text
        assert text is not None
        starts = line_starts(text, self.literals, self.rare, p.absent, p.starts)
        if not starts:
            return
        find, count, search, size = text.find, text.count, self.pattern.search, len(text)
        conn, tells, ends, exclude, lines = (
            self.conn,
            self.tells,
            self.ends,
            self.exclude,
            batch.lines,
        )
        bucket = r.bucket(now)
        idx = last = 0
        for at in starts:
            end = find(SEP, at)
            m = search(text, at, size if end < 0 else end)
            if m is None:
                continue
            told = None
            for g in tells:
                told = m.group(g)
                if told is not None:
                    break
            cid = m.group(conn)
            if told is not None and cid and exclude is None:
                r.tell(cid, told, g in ends, now, bucket, out)  # counts nothing itself
                continue
            idx += count(SEP, last, at)
            last = at
            r.observe(batch, idx, lines[idx], now, bucket, out, m)
