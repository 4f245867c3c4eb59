"""Plans for single-key rules whose batch is summed up at once: counted lines (count, rate,
spike, ratio) or a regex group's values (quantile).

`BulkCount` and `BulkValues` are a pure pass over the batch's text (`alerter.rules.bulk`), which an
offload may run in another process (`alerter.rules.scan.feed` hands their `spec` over and gives the
answer to `take`). `BulkLines` counts in this process, for a regex whose matches may span
lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerter.rules.bulk import (
    NO_MATCH,
    BulkSpec,
    Counted,
    NoMatch,
    Summary,
    Unjudged,
    Values,
    summarize,
)
from alerter.rules.plans.base import SEP, Facts, Pass, Plan, few_lines
from alerter.rules.prefilter import line_local, line_pattern, match_shape
from alerter.rules.windows import EXAMPLES

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule


def _example_literal(f: Facts) -> str | None:
    """The literal the examples are found by from the batch's end (none holding a newline)."""
    return f.literal if f.literal is not None and "\n" not in f.literal else None


class BulkPlan(Plan):
    """A plan whose pass is `summarize(spec, text)`: run here, or elsewhere and its summary
    given to `take`."""

    only_its_lines = True

    __slots__ = ()
    spec: BulkSpec
    lines_alone: bool  # `line_local(spec.match)`: its lines alone give the batch's summary

    def run(self, r: LogRule, p: Pass) -> None:
        text = p.batch.text
        assert text is not None
        s: Summary
        if self.spec.literal in p.absent:
            s = NO_MATCH  # (every match holds the literal)
        elif (starts := self.holding(p, text)) is None:
            s = summarize(self.spec, text, p.shared)
        else:
            find, size = text.find, len(text)
            lines = [text[a : size if (b := find(SEP, a)) < 0 else b] for a in starts]
            s = summarize(self.spec, SEP.join(lines), {})
        if not self.take(r, s, p):
            raise AssertionError(f"{self.label} cannot take its own pass's {s!r}")

    def searched(self) -> tuple[str, ...]:
        return () if self.spec.literal is None else (self.spec.literal,)

    def cheap_here(self, p: Pass, text: str) -> bool:
        """Whether the pass is cheaper here than handed over: the batch lacks the literal, or
        the pass found its few lines (`holding`)."""
        return self.spec.literal in p.absent or self.holding(p, text) is not None

    def holding(self, p: Pass, text: str) -> list[int] | None:
        """The starts of the lines holding the literal, where the pass found them (Pass.starts)
        and they are few: the pass over those lines alone is the pass over the batch (every
        match holds the literal and lies in one line), without a scan of the batch. None
        otherwise, and for a regex that reads the text's true ends or looks behind (which the
        lines alone would change: `lines_alone`)."""
        return few_lines(p, self.spec.literal, text) if self.lines_alone else None

    def take(self, r: LogRule, s: Summary, p: Pass) -> bool:
        """The pass's summary into the rule's window; False when it is not an answer this
        plan takes (a helper's, of the wrong kind): the caller then runs the plan here."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class BulkCount(BulkPlan):
    """count, rate, spike or ratio with one key and nothing to filter, whose matches cannot
    span lines: one findall over the batch counts its lines (shared by the rules counting
    the same places); `of` (ratio) reads only regex groups."""

    spec: BulkSpec
    lines_alone: bool

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        if not (f.bulk and f.of_in_groups) or f.one_batch is None or f.match is None:
            return None
        rx = line_pattern(f.one_batch)
        if rx is None:
            return None
        groups = f.groups
        return cls(
            BulkSpec(
                values=False,
                pattern=rx,
                first=None,
                shape=match_shape(f.one_line) if f.one_line is not None else None,
                ratio=f.aggregate == "ratio",
                of_groups=tuple((mt, groups[mt.name] - 1) for mt in f.rule.of),
                match=f.match,
                literal=_example_literal(f),
                value_index=0,
            ),
            line_local(f.match),
        )

    def take(self, r: LogRule, s: Summary, p: Pass) -> bool:
        match s:
            case Counted(n, hits, examples):
                r.observe_counts(n, hits, examples, p.now, r.bucket(p.now), p.out)
            case NoMatch():
                pass
            case _:
                return False
        return True


@dataclass(frozen=True, slots=True)
class BulkValues(BulkPlan):
    """quantile of a regex group, one key, nothing to filter: one findall gives the batch's
    values. A batch where the group did not take part in some match (an empty value: the
    event's parsed field counts then) is left to `fallback`."""

    spec: BulkSpec
    fallback: Plan
    lines_alone: bool

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        ok = (
            f.aggregate == "quantile"
            and f.field_in_groups
            and not f.rule.by
            and f.plain
            and f.one_batch is not None
            and f.match is not None
        )
        if not ok or f.one_batch is None or f.match is None:
            return None
        rx = line_pattern(f.one_batch)
        if rx is None:
            return None
        spec = BulkSpec(
            values=True,
            pattern=rx,
            first=f.batch,
            shape=None,
            ratio=False,
            of_groups=(),
            match=f.match,
            literal=_example_literal(f),
            value_index=f.groups[f.rule.field or ""] - 1,
        )
        return cls(spec, then(), line_local(f.match))

    def take(self, r: LogRule, s: Summary, p: Pass) -> bool:
        match s:
            case Values(xs, examples):
                r.observe_values(xs, examples, p.now, p.out)
            case NoMatch():
                pass
            case Unjudged():
                self.fallback.run(r, p)
            case _:
                return False
        return True

    @property
    def label(self) -> str:
        return f"BulkValues(fallback={self.fallback.label})"


@dataclass(frozen=True, slots=True)
class BulkLines(Plan):
    """A bulk rule whose matches may span lines (its regex cannot be confined to one): one
    finditer over the batch (`pattern` consumes the rest of each line, so a line yields at
    most one match); a match that spans lines is judged line by line."""

    pattern: re.Pattern[str]
    ratio: bool

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        if not (f.bulk and f.of_in_groups) or f.one_batch is not None or f.batch is None:
            return None
        rx = line_pattern(f.batch)
        return cls(rx, f.aggregate == "ratio") if rx is not None else None

    def run(self, r: LogRule, p: Pass) -> None:
        text, lines = p.batch.text, p.batch.lines
        assert text is not None
        ratio = self.ratio
        n = hits = 0
        starts: list[int] = []
        for m in self.pattern.finditer(text):
            start, end = m.span()
            if text.find(SEP, start, end) < 0:
                n += 1
                if ratio and r.of_ok_groups(m):
                    hits += 1
                starts.append(start)
                continue
            k0 = text.count(SEP, 0, start)
            line_start = text.rfind(SEP, 0, start) + 1
            for k in range(k0, k0 + text.count(SEP, start, end) + 1):
                mk = r.match.search(lines[k]) if r.match is not None else None
                if mk is not None:
                    n += 1
                    if ratio and r.of_ok_groups(mk):
                        hits += 1
                    starts.append(line_start)
                line_start += len(lines[k]) + 1
        if n:
            examples = [lines[text.count(SEP, 0, at)] for at in starts[-EXAMPLES:]]
            r.observe_counts(n, hits, examples, p.now, r.bucket(p.now), p.out)
