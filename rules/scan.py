"""How a batch of one source's lines reaches each log rule, without Python work for a line
that matches nothing.

The batch is joined by newlines once. A rule whose regex starts with a literal searches the
joined text in MULTILINE mode (the regex engine skips between candidates); a rule with a
literal every match contains finds candidate lines with str.find; a rule with neither tests
every line. Rules that count (one key, or keys from regex groups) gather a batch's matches and
update each key once. `tests/rules/test_batches.py` checks that every path finds exactly what
searching each line alone finds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rules.alert import Transition
from rules.logrules import LogRule
from rules.windows import EXAMPLES

SEP = "\n"


def feed(rules: Sequence[LogRule], source: str, events: Sequence[Any], lines: list[str],
         now: float, out: list[Transition], errors: dict[str, str]) -> None:
    """Feed one source's batch to its rules; a rule that raises is recorded in `errors`."""
    text = None
    if any(r.literal is not None or r.batch_match is not None for r in rules):
        text = SEP.join(lines)
        if text.count(SEP) != len(lines) - 1:
            text = None  # a line holds a newline (a multiline event): test line by line
    built = None
    for r in rules:
        try:
            if r.touches:
                r.touch(source, lines, now, out)
            elif text is not None and r.batch_match is not None:
                if r.keyed_match is not None:
                    _keyed_matches(r, r.keyed_match, text, events, lines, now, out)
                elif r.count_in_c:
                    _count_lines(r, r.line_match, text, lines, now, out)  # type: ignore[arg-type]
                elif r.line_match is not None:
                    _scan_lines(r, r.line_match, text, lines, now, out)
                else:
                    _scan_regex(r, r.batch_match, text, events, lines, now, out)
            elif text is not None and r.literal is not None and r.keyed:
                _keyed_literal(r, text, events, lines, now, out)
            elif text is not None and r.literal is not None:
                _scan_literal(r, text, events, lines, now, out)
            else:
                if built is None:  # build each event once for the rules that read all
                    built = events if isinstance(events, list) else list(events)
                lit, bucket = r.literal or "", r.bucket(now)
                for idx, line in enumerate(lines):
                    if lit in line:
                        r.observe(built, idx, line, now, bucket, out)
        except Exception as e:  # a bug in one rule must not stop the others
            errors[r.rule.ident] = f"{type(e).__name__}: {e}"


def _scan_literal(r: LogRule, text: str, events: Sequence[Any], lines: list[str], now: float,
                  out: list[Transition]) -> None:
    """Lines containing the rule's literal, found with str.find over the batch."""
    lit = r.literal
    assert lit is not None
    pos = text.find(lit)
    if pos < 0:
        return
    bucket = r.bucket(now)
    idx = last = 0
    while pos >= 0:
        idx += text.count(SEP, last, pos)
        r.observe(events, idx, lines[idx], now, bucket, out)
        nxt = text.find(SEP, pos)
        if nxt < 0:
            return
        idx += 1
        last = nxt + 1
        pos = text.find(lit, last)


def _scan_regex(r: LogRule, rx: re.Pattern[str], text: str, events: Sequence[Any],
                lines: list[str], now: float, out: list[Transition]) -> None:
    """Lines the rule's regex matches, found by one MULTILINE search over the batch; the
    first match in each line counts, as a search of the line alone would find. A `bulk`
    rule gets counts, not a call per line."""
    bucket = r.bucket(now)
    bulk, ratio = r.bulk, r.ratio
    n = hits = 0
    tail: list[int] = []
    idx = last = pos = 0
    search = rx.search
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
                r.observe(events, idx, lines[idx], now, bucket, out, m)
            else:
                n += 1
                if ratio and r.of_ok(events, idx, lines[idx], m):
                    hits += 1
                if len(tail) == EXAMPLES:
                    del tail[0]
                tail.append(idx)
        nxt = text.find(SEP, start)
        if nxt < 0:
            break
        idx += 1
        last = pos = nxt + 1
    if n:
        r.observe_counts(n, hits, [lines[i] for i in tail], now, bucket, out)


def _scan_lines(r: LogRule, rx: re.Pattern[str], text: str, lines: list[str], now: float,
                out: list[Transition]) -> None:
    """A bulk rule's lines counted by one finditer over the batch (`rx` consumes the rest of
    each line, so a line yields at most one match); matches that span lines are judged line
    by line."""
    ratio = r.ratio
    n = hits = 0
    tail: list[int] = []
    for m in rx.finditer(text):
        start, end = m.span()
        if text.find(SEP, start, end) < 0:
            n += 1
            if ratio and r.of_ok_groups(m):
                hits += 1
            tail.append(start)
            continue
        first = text.count(SEP, 0, start)
        line_start = text.rfind(SEP, 0, start) + 1
        for k in range(first, first + text.count(SEP, start, end) + 1):
            mk = r.match.search(lines[k]) if r.match is not None else None
            if mk is not None:
                n += 1
                if ratio and r.of_ok_groups(mk):
                    hits += 1
                tail.append(line_start)
            line_start += len(lines[k]) + 1
    if n:
        examples = [lines[text.count(SEP, 0, p)] for p in tail[-EXAMPLES:]]
        r.observe_counts(n, hits, examples, now, r.bucket(now), out)


def _count_lines(r: LogRule, rx: re.Pattern[str], text: str, lines: list[str], now: float,
                 out: list[Transition]) -> None:
    """A bulk rule whose matches cannot span lines: findall counts its lines in C (`rx` takes
    the rest of each line: one match per line); ratio tests `of` once per distinct value."""
    found = rx.findall(text)
    if not found:
        return
    hits = 0
    if r.ratio:
        for value, n in Counter(found).items():
            if r.of_ok_found(value):
                hits += n
    r.observe_counts(len(found), hits, r.examples_from(lines), now, r.bucket(now), out)


class _Keyed:
    """A keyed rule's matches in one batch, gathered per key: count, field values, where
    its last lines are (offsets into the joined text, or line numbers)."""

    __slots__ = ("counts", "odd", "values", "where")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, ...], int] = {}
        self.values: dict[tuple[str, ...], list[str]] = {}
        self.where: dict[tuple[str, ...], list[int]] = {}
        self.odd: list[int] = []  # an optional group did not take part: judged on its own

    def hit(self, r: LogRule, m: re.Match[str], at: int) -> None:
        groups = r.key_groups
        key = (m.group(groups[0]),) if len(groups) == 1 else m.group(*groups)
        x = m.group(r.value_group) if r.value_group else ""
        if None in key or x is None:
            self.odd.append(at)
            return
        n = self.counts.get(key)
        if n is None:
            self.counts[key] = 1
            self.where[key] = [at]
            if r.value_group:
                self.values[key] = [x]
            return
        self.counts[key] = n + 1
        pos = self.where[key]
        pos.append(at)
        if len(pos) > EXAMPLES:
            del pos[0]
        if r.value_group:
            self.values[key].append(x)

    def flush(self, r: LogRule, events: Sequence[Any], lines: list[str], line_of: Any,
              now: float, out: list[Transition]) -> None:
        bucket = r.bucket(now)
        values = self.values if r.value_group else None
        for key, n in self.counts.items():
            r.observe_keyed(key, n, values[key] if values is not None else None,
                            [lines[line_of(p)] for p in self.where[key]], now, bucket, out)
        for p in self.odd:
            idx = line_of(p)
            r.observe(events, idx, lines[idx], now, bucket, out)


def _keyed_matches(r: LogRule, rx: re.Pattern[str], text: str, events: Sequence[Any],
                   lines: list[str], now: float, out: list[Transition]) -> None:
    """A `keyed` rule whose matches cannot span lines: one finditer over the batch (`rx`
    takes the rest of each line: one match per line), then each key is updated and evaluated
    once, with its last lines of the batch as examples."""
    acc = _Keyed()
    for m in rx.finditer(text):
        acc.hit(r, m, m.start())
    if not acc.counts and not acc.odd:
        return
    # line numbers of the offsets we need, counting newlines once through the batch
    wanted = sorted({p for ps in acc.where.values() for p in ps} | set(acc.odd))
    line_of: dict[int, int] = {}
    idx = last = 0
    for p in wanted:
        idx += text.count(SEP, last, p)
        last = p
        line_of[p] = idx
    acc.flush(r, events, lines, line_of.__getitem__, now, out)


def _keyed_literal(r: LogRule, text: str, events: Sequence[Any], lines: list[str], now: float,
                   out: list[Transition]) -> None:
    """A `keyed` rule found through its literal: each candidate line is searched alone."""
    lit, search = r.literal, r.match.search  # type: ignore[union-attr]
    assert lit is not None
    acc = _Keyed()
    pos = text.find(lit)
    idx = last = 0
    while pos >= 0:
        idx += text.count(SEP, last, pos)
        m = search(lines[idx])
        if m is not None:
            acc.hit(r, m, idx)
        nxt = text.find(SEP, pos)
        if nxt < 0:
            break
        idx += 1
        last = nxt + 1
        pos = text.find(lit, last)
    acc.flush(r, events, lines, int, now, out)
