"""A batch's lines as runs of one event time each (DESIGN "Event time"). Pure.

An event's time is the time its parser reads in its line, else when it was read (the batch's
`now`); a time more than FUTURE seconds after the read is read time too (a wrong clock or
year on the writer's side must not hold a count in a window for ever). The engine places
each run's lines at that time.

Every line's time is read, with the parser's `times` (the timestamp alone, cached by its
text; no fields built): lines of several writers or without a time may sit anywhere in a
block, and a line placed at a neighbour's time would count where it does not belong. A block
of one time (a live log read within a second) is the batch itself; others are split into
parts whose lines are parsed (and their parse errors counted) by the batch itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # LogBatch.at_times calls this module: it builds the parts itself
    from alerter.rules.events import LogBatch, LogEvent

FUTURE = 300.0  # seconds after the read beyond which a line's time is taken as the read's

# a parser's `times`: each line's time, None when it has none
LineTimes = Callable[[list[str]], list[float | None]]


def runs_of_lines(
    batch: LogBatch, lines: list[str], times: LineTimes
) -> list[tuple[float, LogBatch]]:
    """The batch (of `lines`) as (time, batch) runs of consecutive lines of one time, in line
    order; the batch itself when it is one run, else its parts (`LogBatch.part`)."""
    read = batch.now
    late = read + FUTURE
    ts = times(lines)
    at: list[float]
    if None in ts or (ts and max(cast("list[float]", ts)) > late):  # (C scans; rarely true)
        at = [read if t is None or t > late else float(t) for t in ts]
    else:
        at = cast("list[float]", ts)  # no None in it
    bounds = _bounds(at)
    if len(bounds) <= 1:
        return [(at[0] if at else read, batch)]
    return [(t, batch.part(a, b)) for a, b, t in bounds]


def runs_of_events(batch: LogBatch, events: Sequence[LogEvent]) -> list[tuple[float, LogBatch]]:
    """A batch of events built already (each with its time) as runs, like `runs_of_lines`."""
    read = batch.now
    late = read + FUTURE
    at = [read if e.time > late else float(e.time) for e in events]
    bounds = _bounds(at)
    if len(bounds) <= 1:
        return [(at[0] if at else read, batch)]
    return [(t, batch.part(a, b)) for a, b, t in bounds]


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
