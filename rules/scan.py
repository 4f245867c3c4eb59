"""How a batch of one source's lines reaches each log rule, without Python work for a line
that matches nothing.

The batch is searched as one text: the block a collector read, or its lines joined by newlines
once. A rule whose regex starts with a literal searches the text in MULTILINE mode (the regex
engine skips between candidates); a rule with a literal every match contains finds candidate
lines through it and searches each in place (rx.search(text, start, end)); a rule with neither
tests every line. Rules that count (one key, or keys from regex groups) gather a batch's matches
in C (findall, Counter) and update and evaluate each key once; rules with the same pattern share
one findall. The single-key ones' passes (rules/bulk.py) are pure functions of the text, which an
`offload` may run in another process while the other rules run here.
`tests/rules/test_batches.py` checks that every path finds exactly what searching each line
alone finds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from rules.alert import Transition
from rules.bulk import BulkSpec, Counted, NoMatch, Summary, Unjudged, Values, summarize
from rules.logrules import LogRule
from rules.windows import EXAMPLES

SEP = "\n"


# An offload takes a batch's text and the bulk passes to run over it, starts them elsewhere and
# returns the call that waits for their summaries (None from it: run them here after all), or
# returns None at once when it does not take the batch.
Offload = Callable[[str, tuple[BulkSpec, ...]], Callable[[], list[Summary] | None] | None]


@dataclass(slots=True)
class _Batch:
    source: str
    events: Sequence[Any]
    lines: Sequence[str]
    text: str | None
    now: float
    out: list[Transition]
    shared: dict[object, list[Any]] = field(default_factory=dict)  # findall results
    built: list[Any] | None = None  # the events, built once for the rules that read all


def feed(
    rules: Sequence[LogRule],
    source: str,
    events: Sequence[Any],
    lines: Sequence[str],
    now: float,
    out: list[Transition],
    errors: dict[str, str],
    text: str | None = None,
    offload: Offload | None = None,
) -> None:
    """Feed one source's batch to its rules; a rule that raises is recorded in `errors`.
    `text`, when the caller has it, is the lines joined by newlines (no line holds one);
    `lines` may then be a lazy view, read only for the lines a rule matched. `offload` may
    run the bulk rules' passes elsewhere while the other rules run here."""
    if (
        text is None
        and any(r.literal is not None or r.batch_match is not None for r in rules)
        and SEP not in "".join(lines)
    ):  # (a C memchr: cheaper than counting newlines)
        text = SEP.join(lines)  # unless a line holds a newline (a multiline event)
    b = _Batch(source, events, lines, text, now, out)
    later: tuple[LogRule, ...] = ()
    wait = None
    if offload is not None and text is not None:
        bulk = tuple(r for r in rules if r.bulk_spec is not None)
        if bulk:
            try:
                wait = offload(text, tuple(r.bulk_spec for r in bulk))  # type: ignore[misc]
            except Exception:  # the offload's own failure: the passes run here
                wait = None
            if wait is not None:
                later = bulk
    for r in rules:
        if r not in later:
            _guarded(r, b, errors)
    if wait is not None:
        summaries = _summaries(wait, len(later))
        for i, r in enumerate(later):
            try:
                if summaries is not None and apply_summary(r, summaries[i], now, out):
                    continue
            except Exception as e:
                errors[r.rule.ident] = f"{type(e).__name__}: {e}"
                continue
            _guarded(r, b, errors)


def _summaries(wait: Callable[[], list[Summary] | None], n: int) -> list[Summary] | None:
    """The offloaded passes' n summaries, or None: they run here (the offload failed, or
    answered with other than one summary a pass)."""
    try:
        summaries = wait()
    except Exception:  # the offload's own failure
        return None
    return summaries if type(summaries) is list and len(summaries) == n else None


def _guarded(r: LogRule, b: _Batch, errors: dict[str, str]) -> None:
    try:
        _one(r, b)
    except Exception as e:  # a bug in one rule must not stop the others
        errors[r.rule.ident] = f"{type(e).__name__}: {e}"


def _one(r: LogRule, b: _Batch) -> None:
    """One rule's pass over the batch, by the quickest path the rule allows."""
    text, events, lines, now, out = b.text, b.events, b.lines, b.now, b.out
    if r.touches:
        r.touch(b.source, _tail(lines, text), now, out)
    elif text is None:
        if b.built is None:  # build each event once for the rules that read all
            b.built = events if isinstance(events, list) else list(events)
        lit, bucket = r.literal or "", r.bucket(now)
        for idx, line in enumerate(lines):
            if lit in line:
                r.observe(b.built, idx, line, now, bucket, out)
    elif r.keyed_match is not None:
        _keyed_matches(r, r.keyed_match, text, events, lines, now, out)
    elif r.keyed and r.literal_rx is not None and r.bounded is not None:
        _keyed_literal(r, r.bounded, text, events, lines, now, out)
    elif r.bulk_spec is not None and apply_summary(
        r, summarize(r.bulk_spec, text, b.shared), now, out
    ):
        pass
    elif r.line_match is not None:
        _scan_lines(r, r.line_match, text, lines, now, out)
    elif r.batch_match is not None:
        _scan_regex(r, r.batch_match, text, events, lines, now, out)
    elif r.literal is not None:
        _scan_literal(r, text, events, lines, now, out)
    else:
        if b.built is None:
            b.built = events if isinstance(events, list) else list(events)
        bucket = r.bucket(now)
        for idx, line in enumerate(lines):
            r.observe(b.built, idx, line, now, bucket, out)


def apply_summary(r: LogRule, s: Summary, now: float, out: list[Transition]) -> bool:
    """A bulk pass's summary into the rule's window; False when the pass could not judge
    the batch (the rule then takes its next path)."""
    match s:
        case NoMatch():
            return True
        case Unjudged():
            return False
        case Values(xs, examples):
            r.observe_values(xs, examples, now, out)
        case Counted(n, hits, examples):
            r.observe_counts(n, hits, examples, now, r.bucket(now), out)
    return True


def _tail(lines: Sequence[str], text: str | None) -> list[str]:
    """The batch's last EXAMPLES lines (from the text's end when there is one)."""
    if text is None:
        return list(lines[-EXAMPLES:])
    start = len(text)
    for _ in range(EXAMPLES):
        start = text.rfind(SEP, 0, start)
        if start < 0:
            break
    return text[start + 1 :].split(SEP)


def _scan_literal(
    r: LogRule,
    text: str,
    events: Sequence[Any],
    lines: Sequence[str],
    now: float,
    out: list[Transition],
) -> None:
    """Lines containing the rule's literal, found with str.find over the batch."""
    lit = r.literal
    assert lit is not None
    pos = _first(r, text)
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


def _scan_regex(
    r: LogRule,
    rx: re.Pattern[str],
    text: str,
    events: Sequence[Any],
    lines: Sequence[str],
    now: float,
    out: list[Transition],
) -> None:
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


def _scan_lines(
    r: LogRule,
    rx: re.Pattern[str],
    text: str,
    lines: Sequence[str],
    now: float,
    out: list[Transition],
) -> None:
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


def _first(r: LogRule, text: str) -> int:
    """Where the rule's literal first occurs in the batch, or -1. A batch that lacks one of
    the literal's rarest characters is ruled out by memchr, without searching for it."""
    for c in r.rare:
        if c not in text:
            return -1
    return text.find(r.literal)  # type: ignore[arg-type]


def _keyed_matches(
    r: LogRule,
    rx: re.Pattern[str],
    text: str,
    events: Sequence[Any],
    lines: Sequence[str],
    now: float,
    out: list[Transition],
) -> None:
    """A `keyed` rule whose matches cannot span lines and start with its literal: one
    finditer over the batch from the first line holding the literal (`rx` takes the rest of
    each line: one match per line)."""
    pos = _first(r, text) if r.literal is not None else 0
    if pos < 0:
        return  # a C substring search rules out the batch faster than the regex scan
    ms = list(rx.finditer(text, text.rfind(SEP, 0, pos) + 1))
    if ms:
        _keyed(r, ms, text, events, lines, now, out)


def _keyed_literal(
    r: LogRule,
    rx: re.Pattern[str],
    text: str,
    events: Sequence[Any],
    lines: Sequence[str],
    now: float,
    out: list[Transition],
) -> None:
    """A `keyed` rule found through its literal: each line holding it is searched in place
    (`rx` is the rule's `bounded` pattern: the match ends at the line's end). The literal's
    places come from one finditer (a tighter loop than str.find for frequent literals)."""
    lit = r.literal
    assert lit is not None and r.literal_rx is not None
    pos = _first(r, text)
    if pos < 0:
        return
    find, rfind, search, size = text.find, text.rfind, rx.search, len(text)
    ms = []
    end = -1
    for c in r.literal_rx.finditer(text, pos):
        at = c.start()
        if at < end:
            continue  # the literal again in the line just searched
        end = find(SEP, at)
        if end < 0:
            end = size
        m = search(text, rfind(SEP, 0, at) + 1, end)
        if m is not None:
            ms.append(m)
    if ms:
        _keyed(r, ms, text, events, lines, now, out)


def _keyed(
    r: LogRule,
    ms: list[re.Match[str]],
    text: str,
    events: Sequence[Any],
    lines: Sequence[str],
    now: float,
    out: list[Transition],
) -> None:
    """A keyed rule's matches in one batch (one per line, in order, each ending at its
    line's end): each key is updated and evaluated once, with its last lines as examples.
    Counting is done in C (Counter over the key groups); Python steps only per key and
    back through the batch's last matches for the examples."""
    key_of, single = r.key_of, len(r.key_groups) == 1
    keys = list(map(key_of, ms))
    counts = Counter(keys)
    odd = None in counts if single else any(None in k for k in counts)
    if not odd and r.value_group:
        odd = None in map(itemgetter(r.value_group), ms)
    if odd:  # an optional group did not take part: such lines are judged on their own
        good = [m for m, k in zip(ms, keys, strict=True) if not _is_odd(r, m, k, single)]
        if good:
            _keyed(r, good, text, events, lines, now, out)
        bucket = r.bucket(now)
        for m in ms:
            if _is_odd(r, m, key_of(m), single):
                idx = text.count(SEP, 0, m.start())
                r.observe(events, idx, lines[idx], now, bucket, out)
        return
    # the last EXAMPLES lines of each key (newest first), walking back from the batch's end
    examples: dict[Any, list[str]] = {}
    left = sum(map(min, counts.values(), repeat(EXAMPLES)))
    rfind = text.rfind
    i = len(ms)
    while left:
        i -= 1
        k = keys[i]
        e = examples.get(k)
        if e is None:
            m = ms[i]
            examples[k] = [text[rfind(SEP, 0, m.start()) + 1 : m.end()]]
        elif len(e) < EXAMPLES:
            m = ms[i]
            e.append(text[rfind(SEP, 0, m.start()) + 1 : m.end()])
        else:
            continue
        left -= 1
    values: dict[Any, list[str]] | None = None
    if r.value_group:  # distinct: each key's distinct values, in order of appearance
        values = {}
        for pair in dict.fromkeys(map(r.pair_of, ms)):
            k = pair[0] if single else pair[:-1]
            v = values.get(k)
            if v is None:
                values[k] = [pair[-1]]
            else:
                v.append(pair[-1])
    r.observe_keys(counts, single, values, examples, now, out)


def _is_odd(r: LogRule, m: re.Match[str], k: Any, single: bool) -> bool:
    if (k is None) if single else (None in k):
        return True
    return bool(r.value_group) and m[r.value_group] is None
