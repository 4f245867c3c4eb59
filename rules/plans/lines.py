"""Plans that judge each line they find on its own (`LogRule.observe`), and `Touch`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerter.rules.plans.base import (
    SEP,
    Facts,
    Pass,
    Plan,
    each_line,
    few_lines,
    first,
    line_number,
)
from alerter.rules.prefilter import rare_chars
from alerter.rules.windows import EXAMPLES

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule


@dataclass(frozen=True, slots=True)
class Touch(Plan):
    """`absent` over every line of a source: only the batch's last lines matter, once."""

    needs_text = False

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        by = f.rule.by
        ok = f.aggregate == "absent" and f.match is None and f.plain and by in ((), ("source",))
        return cls() if ok else None

    def run(self, r: LogRule, p: Pass) -> None:
        r.touch(p.batch.source, p.batch.tail(EXAMPLES), p.now, p.out)


@dataclass(frozen=True, slots=True)
class RegexScan(Plan):
    """Lines the rule's regex matches, found by one MULTILINE search over the batch (the
    regex starts with a literal: the regex engine skips ahead between candidates); the first
    match in each line counts, as a search of the line alone would find. `counts`: a bulk
    rule (one key, nothing to filter) gets the batch's counts, not a call per line."""

    pattern: re.Pattern[str]
    counts: bool
    ratio: bool

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        if f.batch is None:
            return None
        return cls(f.batch, f.bulk, f.aggregate == "ratio")

    def run(self, r: LogRule, p: Pass) -> None:
        batch, now, out = p.batch, p.now, p.out
        text, lines = batch.text, batch.lines
        assert text is not None
        bucket = r.bucket(now)
        bulk, ratio = self.counts, self.ratio
        n = hits = 0
        last_idx: list[int] = []
        idx = last = pos = 0
        search = self.pattern.search
        while True:
            m = search(text, pos)
            if m is None:
                break
            start = m.start()
            idx += text.count(SEP, last, start)
            last = start
            if text.find(SEP, start, m.end()) >= 0:  # spans lines: judge its line alone
                m = r.match.search(lines[idx]) if r.match is not None else None
            if m is not None:
                if not bulk:
                    r.observe(batch, idx, lines[idx], now, bucket, out, m)
                else:
                    n += 1
                    if ratio and r.of_ok(batch, idx, lines[idx], m):
                        hits += 1
                    if len(last_idx) == EXAMPLES:
                        del last_idx[0]
                    last_idx.append(idx)
            nxt = text.find(SEP, start)
            if nxt < 0:
                break
            idx += 1
            last = pos = nxt + 1
        if n:
            r.observe_counts(n, hits, [lines[i] for i in last_idx], now, bucket, out)


@dataclass(frozen=True, slots=True)
class LiteralScan(Plan):
    """Lines holding the rule's literal, found with str.find over the batch, each judged on
    its own (the regex does not start with a literal, so it cannot scan the batch itself)."""

    only_its_lines = True

    literal: str
    rare: str  # the literal's rarest characters: a batch lacking one cannot hold it

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        return cls(f.literal, rare_chars(f.literal)) if f.literal is not None else None

    def searched(self) -> tuple[str, ...]:
        return (self.literal,)

    def run(self, r: LogRule, p: Pass) -> None:
        batch, now, out = p.batch, p.now, p.out
        text, lines = batch.text, batch.lines
        assert text is not None
        lit = self.literal
        starts = few_lines(p, lit, text)
        if starts is not None:  # (the pass found them)
            bucket = r.bucket(now)
            for start in starts:
                idx = line_number(p, text, start)
                r.observe(batch, idx, lines[idx], now, bucket, out)
            return
        pos = first(lit, self.rare, text, p.absent)
        if pos < 0:
            return
        bucket = r.bucket(now)
        idx = last = 0
        while pos >= 0:
            idx += text.count(SEP, last, pos)
            r.observe(batch, idx, lines[idx], now, bucket, out)
            nxt = text.find(SEP, pos)
            if nxt < 0:
                return
            idx += 1
            last = nxt + 1
            pos = text.find(lit, last)


@dataclass(frozen=True, slots=True)
class EveryLine(Plan):
    """Every line judged on its own: the rule has no literal to find its lines by (`why`)."""

    why: str
    needs_text = False

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        return cls(f.no_literal or "no literal")

    def run(self, r: LogRule, p: Pass) -> None:
        each_line(r, p, None)
