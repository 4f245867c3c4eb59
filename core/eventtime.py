"""A batch's lines as runs of one event time each (DESIGN "Event time"). Pure.

An event's time is the time its parser reads in its line, else when it was read (the batch's
`now`); a time more than FUTURE seconds after the read is read time too (a wrong clock or
year on the writer's side must not hold a count in a window for ever). The engine places
each run's lines at that time.

A line's time is read with the parser's `times` (the timestamp alone, cached by its text; no
fields built): lines of several writers or without a time may sit anywhere in a block, and a
line placed at a neighbour's time would count where it does not belong. When the engine knows
a literal every line a rule of the source can count holds (`wanted`: each rule's pre-filter
literal), only the lines holding one have their time read (`runs_of_wanted`): a line holding
none is counted by no rule, so it may ride in its neighbour's run, and a regex parser's
pattern no longer runs on every line of a busy log (issue 12 point 6). A block of one time (a
live log read within a second) is the batch itself; others are split into parts whose lines
are parsed (and their parse errors counted) by the batch itself.

A run is (time, batch, timed): `timed` is how many of its lines had their time read (all,
unless `wanted`): the lines that count as late when the run is late for a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # LogBatch.at_times calls this module: it builds the parts itself
    from alerter.core.events import LogBatch, LogEvent, Spans

FUTURE = 300.0  # seconds after the read beyond which a line's time is taken as the read's

# a parser's `times`: each line's time, None when it has none
LineTimes = Callable[[list[str]], list[float | None]]
Run = tuple[float, "LogBatch", int]  # (time, its lines, how many had their time read)
SEP = "\n"


def runs_of_lines(batch: LogBatch, lines: list[str], times: LineTimes) -> list[Run]:
    """The batch (of `lines`) as (time, batch, timed) runs of consecutive lines of one time,
    in line order; the batch itself when it is one run, else its parts (`LogBatch.part`)."""
    at = _clamped(batch.now, times(lines))
    bounds = _bounds(at)
    if len(bounds) <= 1:
        return [(at[0] if at else batch.now, batch, len(at))]
    return [(t, batch.part(a, b), b - a) for a, b, t in bounds]


def runs_of_spans(batch: LogBatch, text: str, spans: Spans) -> list[Run]:
    """`runs_of_lines` for a batch made from `text`, not split: the parser's `spans` read the
    times in the text, and each run is a slice of it (`LogBatch.part_of_text`)."""
    read = batch.now
    late = read + FUTURE
    runs: list[list[Any]] = []  # [first line, end line, first char, end char, time]
    line = start = 0
    for k, end, t in spans(text):
        at = read if t is None or t > late else float(t)
        if runs and runs[-1][4] == at:
            last = runs[-1]
            last[1], last[3] = line + k, end
        else:
            runs.append([line, line + k, start, end, at])
        line += k
        start = end + 1
    if len(runs) == 1:
        return [(runs[0][4], batch, line)]
    return [(t, batch.part_of_text(a, s, e), b - a) for a, b, s, e, t in runs]


def runs_of_wanted(
    batch: LogBatch, lines: list[str], times: LineTimes, wanted: tuple[str, ...]
) -> list[Run]:
    """Like `runs_of_lines` for the lines holding one of `wanted` (no literal holds a
    newline): only their times are read; a line holding none joins the run before it (the
    first run when it leads). The runs give those lines the times `runs_of_lines` gives
    them; no rule counts the others."""
    text = batch.text
    hold = holding(text, lines, wanted) if text is not None else holding_lines(lines, wanted)
    if not hold:
        return [(batch.now, batch, 0)]
    at = _clamped(batch.now, times([lines[i] for i in hold]))
    n = len(lines)
    t = at[0]
    if at.count(t) == len(at):  # one run (the common block): counted in C
        return [(t, batch, len(at))]
    out: list[tuple[int, int, float, int]] = []
    start, k = 0, 0
    for i, ti in zip(hold, at, strict=True):
        if ti != t:
            out.append((start, i, t, k))
            start, t, k = i, ti, 0
        k += 1
    out.append((start, n, t, k))
    return [(t, batch.part(a, b), k) for a, b, t, k in out]


def holding(text: str, lines: list[str], wanted: tuple[str, ...]) -> list[int]:
    """The indexes (in order) of the lines of `text` (`lines` joined by newlines) holding one
    of `wanted`: each literal found by str.find, its line told by counting newlines in C."""
    found: set[int] = set()
    for w in wanted:
        pos = text.find(w)
        line, last = 0, 0
        while pos >= 0:
            line += text.count(SEP, last, pos)
            found.add(line)
            last = text.find(SEP, pos + len(w))
            if last < 0:
                break
            pos = text.find(w, last)
    return sorted(found)


def holding_lines(lines: list[str], wanted: tuple[str, ...]) -> list[int]:
    """`holding` for lines that cannot be joined (one holds a newline)."""
    return [i for i, line in enumerate(lines) if any(w in line for w in wanted)]


def _clamped(read: float, ts: list[float | None]) -> list[float]:
    """Times as placed: None (no time) and a time more than FUTURE after the read: the read."""
    late = read + FUTURE
    if None in ts or (ts and max(cast("list[float]", ts)) > late):  # (C scans; rarely true)
        return [read if t is None or t > late else float(t) for t in ts]
    return cast("list[float]", ts)  # no None in it


def runs_of_events(batch: LogBatch, events: Sequence[LogEvent]) -> list[Run]:
    """A batch of events built already (each with its time) as runs, like `runs_of_lines`."""
    read = batch.now
    late = read + FUTURE
    at = [read if e.time > late else float(e.time) for e in events]
    bounds = _bounds(at)
    if len(bounds) <= 1:
        return [(at[0] if at else read, batch, len(at))]
    return [(t, batch.part(a, b), b - a) for a, b, t in bounds]


def minimal(literals: Sequence[str]) -> tuple[str, ...]:
    """The literals, without one that holds another (a line holding it holds the other)."""
    uniq = sorted(set(literals), key=len)
    out: list[str] = []
    for w in uniq:
        if not any(o in w for o in out):
            out.append(w)
    return tuple(out)


def _bounds(times: list[float]) -> list[tuple[int, int, float]]:
    """(start, end, time) of each run of equal times."""
    if not times:
        return []
    start, t = 0, times[0]
    if times.count(t) == len(times):  # one run (the common block): counted in C
        return [(0, len(times), t)]
    out: list[tuple[int, int, float]] = []
    for i, ti in enumerate(times):
        if ti != t:
            out.append((start, i, t))
            start, t = i, ti
    out.append((start, len(times), t))
    return out
