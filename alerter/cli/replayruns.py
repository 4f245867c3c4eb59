"""Replay's inputs as runs: (time, sequence, lines of that time) in each file's order.

A file collector's log is read a block at a time (alerter/cli/replayfiles.py) and cut into
runs of consecutive lines of one time by its parser's `spans` or `times`; a journald
collector's export (`journalctl -o json`) is read entry by entry, filtered as the collector
filters. The replay (alerter/cli/replay.py) merges the runs of all files by time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from itertools import groupby
from typing import Any

from alerter.cli.replayfiles import ReplayError, blocks
from alerter.collectors.journald import JournaldConfig
from alerter.collectors.timefmt import repeated_hour
from alerter.rules.events import LogBatch, LogEvent
from alerter.rules.eventtime import FUTURE

# (time, sequence, lines of that time): what each replayed file yields, in its order
Run = tuple[float, int, LogBatch]


def untimed_parser(name: str, parser: Any) -> str | None:
    """Why collector `name`'s parser config reads no time in a line (None: it can)."""
    ptype = getattr(parser, "type", "none")
    if ptype == "syslog":
        return None
    if ptype == "none":
        return (
            f"collector {name}: parser type none reads no time in a line, and replay places "
            f"each line at its time: give it `parser: {{type: syslog}}` for syslog files, or a "
            f"regex, json or logfmt parser with `time_field` (and `time_format`)"
        )
    if not getattr(parser, "time_field", None):
        return (
            f"collector {name}: its {ptype} parser has no `time_field`, and replay places each "
            f"line at its time: set `time_field` to the field holding the time (and "
            f"`time_format` unless it is epoch seconds or ISO 8601)"
        )
    return None


def file_runs(
    collector: str, path: str, parser: Any, ptype: str = "", local: bool = False
) -> Iterator[Run]:
    """(time, sequence, lines) for each run of consecutive lines with the same time; a line
    without a time takes the previous line's (the first timed line's, before it). A run is a
    LogBatch, each line parsed only when the engine looks at it; the syslog parser reads the
    runs in the block's text (`spans`: each run a slice of it, never split into lines).
    `local`: the parser's times may come from local stamps (`local_stamps`): in the hour a
    DST fall-back repeats, each is read in the pass that follows the line before it, as the
    file was written (`repeated_hour`). ReplayError when the first block holds no line with a
    time the parser reads."""
    from alerter.collectors.parsers import batch

    spans = getattr(parser, "spans", None)
    last: float | None = None
    n = 0
    for text in blocks(path):
        lines: list[str] = []
        if spans is not None:  # ranges of the text's characters
            ranges = _span_ranges(spans(text))
        else:  # ranges of its lines
            lines = text.split("\n")
            ranges = _line_ranges(parser.times(lines))
        if last is None:
            last = next((t for t, _, _ in ranges if t is not None), None)
            if last is None:
                raise ReplayError(
                    f"{path}: no line of the first {text.count(chr(10)) + 1} has a time that "
                    f"collector {collector}'s {ptype or 'parser'} parser reads: check its "
                    f"`type`, `time_field` and `time_format` against the file's lines"
                )
            if local:  # (the first line: the first pass, if its stamp has two)
                last = repeated_hour(last, -math.inf)
        for t, start, end in _merged(ranges, last, local):
            n += 1
            if spans is not None:
                yield t, n, batch(parser, collector, t, text=text[start:end])
            else:
                yield t, n, batch(parser, collector, t, lines=lines[start:end])
            last = t


Range = tuple["float | None", int, int]  # (time, start, end) of a run of lines


def _span_ranges(spans: list[tuple[int, int, float | None]]) -> list[Range]:
    """The character ranges of SyslogParser.spans (each from after the last one's newline)."""
    out: list[Range] = []
    start = 0
    for _, end, t in spans:
        out.append((t, start, end))
        start = end + 1
    return out


def _line_ranges(times: list[float | None]) -> list[Range]:
    """The line ranges of each run of equal times."""
    out: list[Range] = []
    start = 0
    for t, same in groupby(times):
        end = start + sum(1 for _ in same)
        out.append((t, start, end))
        start = end
    return out


def _merged(ranges: list[Range], last: float, local: bool) -> Iterator[tuple[float, int, int]]:
    """The ranges with a time each (a range without one takes the time before it), adjacent
    ranges of one time joined. `local`: a time more than FUTURE from the one before may be
    a local stamp of a repeated hour read in the other pass (`repeated_hour`)."""
    run: tuple[float, int, int] | None = None
    for t, start, end in ranges:
        at = last if t is None else t
        if local and abs(at - last) > FUTURE:  # (a gap or a step back: rare)
            at = repeated_hour(at, last)
        last = at
        if run is not None and run[0] == at:
            run = (at, run[1], end)
            continue
        if run is not None:
            yield run
        run = (at, start, end)
    if run is not None:
        yield run


def journal_runs(collector: str, path: str, cfg: JournaldConfig) -> Iterator[Run]:
    """The runs of a journald collector's export (`journalctl -o json`: one entry a line),
    each entry read as the collector reads it (its filters, its fields), at its
    __REALTIME_TIMESTAMP. ReplayError for an entry without one, or a line that is not JSON."""
    n = 0
    for events in _journal_events(path, cfg):
        for t, same in groupby(events, key=lambda e: e.time):
            n += 1
            yield t, n, LogBatch.of_events(collector, t, list(same))


def _journal_events(path: str, cfg: JournaldConfig) -> Iterator[list[LogEvent]]:
    """The wanted entries' events, a block of lines at a time."""
    from alerter.collectors.journald import JournaldCollector, limited_event

    reader = JournaldCollector(cfg, _NoPositions(), _NoStats())
    lineno = 0
    for block in blocks(path):
        events = []
        for line in block.split("\n"):
            lineno += 1
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict):
                raise ReplayError(
                    f"{path}:{lineno}: not a journal entry in JSON: export the journal with "
                    f"`journalctl -o json` (one entry a line)"
                )
            stamp = entry.get("__REALTIME_TIMESTAMP")
            if stamp is None:
                raise ReplayError(
                    f"{path}:{lineno}: the entry has no __REALTIME_TIMESTAMP: export the "
                    f"journal with `journalctl -o json` (not json-seq/short), which keeps it"
                )
            if not str(stamp).isdigit():
                raise ReplayError(
                    f"{path}:{lineno}: the entry's __REALTIME_TIMESTAMP {stamp!r} is not a "
                    f"number (microseconds since the epoch, as `journalctl -o json` writes it)"
                )
            if reader._wanted(entry):  # the collector's own unit/identifier/priority filter
                events.append(limited_event(entry, cfg.name, cfg.max_line_bytes)[0])
        yield events


class _NoPositions:
    def load_positions(self, name: str) -> dict[str, Any]:
        return {}

    def save_positions(self, name: str, positions: Any) -> None:
        pass

    def delete_positions(self, name: str, keys: Any) -> None:
        pass


class _NoStats:
    def dropped(self, collector: str, reason: str, n: int = 1) -> None:
        pass

    def up(self, collector: str, up: bool) -> None:
        pass
