"""The batch-wide pass of a bulk rule, as a pure function of plain values.

A single-key count, ratio or spike rule whose matches cannot span lines (plan BulkCount), and
a quantile of a regex group (plan BulkValues), need nothing from a batch but its text: how many
lines matched (and how many of those `of` accepts), or the field's values, and the last lines
for `examples`. `summarize` computes that from a `BulkSpec` and the text, so the same pass can
run here or in a helper process (alerter/runtime/scanworker.py), and `alerter.rules.scan` applies the summary
to the rule's window either way. A summary is one of four types: `Counted`, `Values`,
`NoMatch`, or `Unjudged` (the pass cannot judge this batch: the rule's plan names what runs
instead, rules/plans/counts.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from alerter.rules.matchers import Matcher
from alerter.rules.matchers import value_matches as _test
from alerter.rules.windows import EXAMPLES

SEP = "\n"


@dataclass(frozen=True, slots=True)
class Counted:
    """A count pass: how many lines matched, how many of those `of` accepts (ratio; else 0),
    and the last of them (at most EXAMPLES, oldest first)."""

    lines: int
    accepted: int
    examples: list[str]


@dataclass(frozen=True, slots=True)
class Values:
    """A values pass: the field's values, in order, and the last lines that gave one."""

    values: list[float]
    examples: list[str]


@dataclass(frozen=True, slots=True)
class NoMatch:
    """No line of the batch counts: nothing to add."""


@dataclass(frozen=True, slots=True)
class Unjudged:
    """The pass cannot judge this batch; the rule's plan says what runs instead."""

    why: str


NO_MATCH = NoMatch()
EMPTY_VALUE = Unjudged(
    "an empty value: the group may not have taken part (the event's field counts)"
)

Summary = Counted | Values | NoMatch | Unjudged


@dataclass(frozen=True, slots=True)
class BulkSpec:
    values: bool  # a quantile's values (else: lines counted)
    pattern: re.Pattern[str]  # takes the rest of each line: one match per line
    first: re.Pattern[str] | None  # values: the rule's own batch pattern, for the first candidate
    shape: str | None  # count: rules counting the same places share one findall
    ratio: bool
    of_groups: tuple[tuple[Matcher, int], ...]  # ratio: each `of` matcher and its group
    match: re.Pattern[str]  # the rule's regex, for the examples
    literal: str | None  # a literal every match holds, to find the examples from the end
    value_index: int  # values: the field's place in findall's tuples


def summarize(spec: BulkSpec, text: str, shared: dict[object, list[Any]]) -> Summary:
    """The spec's pass over a batch's text (lines joined by newlines, none holding one).
    `shared` holds the batch's findall results, for rules of the same pattern or shape."""
    return _values(spec, text) if spec.values else _count(spec, text, shared)


def _count(spec: BulkSpec, text: str, shared: dict[object, list[Any]]) -> Summary:
    rx = spec.pattern
    found = shared.get(
        spec.shape if not spec.ratio and spec.shape is not None else (rx.pattern, rx.flags)
    )
    if found is None:
        found = shared[rx.pattern, rx.flags] = rx.findall(text)
        if spec.shape is not None:
            shared.setdefault(spec.shape, found)
    if not found:
        return NO_MATCH
    hits = 0
    if spec.ratio:  # `of` judged once per distinct value; each counted by a C pass (list.count)
        ok: list[Any] = []  # the values `of` accepts, and the others: the side with fewer
        other: list[Any] = []  # values is counted over the matches
        for value in set(found):
            (ok if of_ok(spec, value) else other).append(value)
        fewer = min(ok, other, key=len)
        if len(fewer) > 4:
            hits = sum(n for value, n in Counter(found).items() if of_ok(spec, value))
        else:
            k = sum(map(found.count, fewer))
            hits = k if fewer is ok else len(found) - k
    return Counted(len(found), hits, last_lines(spec, text))


def of_ok(spec: BulkSpec, found: str | tuple[str, ...]) -> bool:
    """ratio: `of` against one findall() result (a group, or a tuple of all groups)."""
    if isinstance(found, str):
        found = (found,)
    return all(_test(mt, found[i]) for mt, i in spec.of_groups)


def _values(spec: BulkSpec, text: str) -> Summary:
    """The field's values of the batch's lines by one findall; EMPTY_VALUE (unjudged) when a
    value is empty (the group may not have taken part: the event's parsed field counts then)."""
    rx = spec.pattern
    start = 0
    if spec.first is not None:  # the rule's own pattern finds the first candidate faster
        first = spec.first.search(text)  # (`[^"]` scans quicker than its confined `[^\n"]`)
        if first is None:
            return NO_MATCH
        start = text.rfind(SEP, 0, first.start()) + 1
    found = rx.findall(text, start)
    if not found:
        return NO_MATCH
    if rx.groups > 1:
        found = list(map(itemgetter(spec.value_index), found))
    if "" in found:
        return EMPTY_VALUE
    try:
        xs = list(map(float, found))
        ok = None
    except ValueError:  # not a number: such lines do not count
        xs = [x for x in map(_number, found) if x is not None]
        ok = _number
    if not xs:
        return NO_MATCH
    return Values(xs, last_lines(spec, text, ok))


def _number(v: str | None) -> float | None:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def last_lines(spec: BulkSpec, text: str, ok: Any = None) -> list[str]:
    """The batch's last EXAMPLES lines that the rule's regex matches (and whose field value
    `ok` accepts), found from the end through the rule's literal."""
    search, lit = spec.match.search, spec.literal
    out: list[str] = []
    stop = len(text)  # the end of the line to look at next (or of the text before it)
    while len(out) < EXAMPLES and stop >= 0:
        if lit is None:
            start = text.rfind(SEP, 0, stop) + 1
        else:
            at = text.rfind(lit, 0, stop)
            if at < 0:
                break
            start = text.rfind(SEP, 0, at) + 1
            stop = text.find(SEP, at)
            if stop < 0:
                stop = len(text)
        line = text[start:stop]
        m = search(line)
        if m is not None and (ok is None or ok(m.group(spec.value_index + 1)) is not None):
            out.append(line)
        stop = start - 1
    out.reverse()
    return out
