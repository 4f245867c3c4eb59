"""Replay's inputs as runs: (time, sequence, lines of that time) in each file's order.

A file collector's log is read a block at a time (alerter/cli/replayfiles.py) and cut into
runs of consecutive lines of one time by its parser's `spans` or `times`; a journald
collector's export (`journalctl -o json`) is read entry by entry, filtered as the collector
filters. The replay (alerter/cli/replay.py) merges the runs of all files by time.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby

from alerter.cli.replayfiles import ReplayError, blocks, tail
from alerter.collectors.base import NullPositions, NullStats
from alerter.collectors.journald import JournaldConfig
from alerter.collectors.parsers import Parser, ParserConfig, batch, spans_of
from alerter.collectors.timefmt import repeated_hour
from alerter.core.events import LogBatch, LogEvent
from alerter.core.eventtime import FUTURE

# (time, sequence, lines of that time): what each replayed file yields, in its order
Run = tuple[float, int, LogBatch]


def untimed_parser(name: str, parser: ParserConfig | None) -> str | None:
    """Why collector `name`'s parser config reads no time in a line (None: it can; a
    collector without a parser config, not a file's, reads none)."""
    if parser is not None and parser.reads_time:
        return None
    if parser is None or parser.type == "none":
        return (
            f"collector {name}: parser type none reads no time in a line, and replay places "
            f"each line at its time: give it `parser: {{type: syslog}}` for syslog files, or a "
            f"regex, json or logfmt parser with `time_field` (and `time_format`)"
        )
    return (
        f"collector {name}: its {parser.type} parser has no `time_field`, and replay places each "
        f"line at its time: set `time_field` to the field holding the time (and "
        f"`time_format` unless it is epoch seconds or ISO 8601)"
    )


# lines in a row stamped after a file's last write, when no last line says when it was
# written (a compressed file), before that last write is taken as wrong rather than the lines
PATIENCE = 10


@dataclass(slots=True)
class Placing:
    """How a file's lines are placed in time, and what was placed otherwise than stamped.

    `latest`: FUTURE after the later of the file's last write (its mtime) and the time of its
    last line (`last_line_time`). No line of the file can be later: one stamped later (a
    writer's clock, or a parser's reading, gone wrong) is placed at the line before it (the
    first: at `latest` - FUTURE), as the daemon places a line stamped more than FUTURE ahead
    at its read time, and counted in `ahead`; else one such line moved the replay clock to its
    year and every later line was skipped as late. The mtime alone is not to be trusted
    (`touch -d`, an unzip in another zone, a tar from a host whose clock was behind): its last
    line, when it has a time, bounds the file too, so a 2099 line among the others is placed
    and one that ends the file moves nothing after it. Without a last line's time (a
    compressed file) the mtime bounds it until more than `patience` lines in a row are
    stamped after it: then the mtime is what is wrong (`stale`) and no line is placed after.
    `local`: the times may come from local stamps (`local_stamps`): in the hour a DST
    fall-back repeats, each is read in the pass that follows the line before it, as the file
    was written (`repeated_hour`)."""

    latest: float = math.inf
    local: bool = False
    patience: float = math.inf  # lines in a row stamped after `latest` placed at the one before
    ahead: int = 0  # lines stamped after `latest`, placed at the line before
    streak: int = 0  # of them, in a row up to the line placed last
    stale: bool = False  # the last write was older than the lines: `latest` given up
    last: float = math.nan  # the time of the line placed last

    @classmethod
    def of(cls, path: str, local: bool = False, last_line: float | None = None) -> Placing:
        """The placing of file `path`, `last_line` the time of its last line (None: unknown)."""
        mtime = os.stat(path).st_mtime
        if last_line is None:
            return cls(mtime + FUTURE, local, PATIENCE)
        return cls(max(mtime, last_line) + FUTURE, local)

    def first(self, t: float) -> None:
        """Start at the file's first time `t` (the lines before any time take it)."""
        if t > self.latest:
            t = self.latest - FUTURE
        self.last = repeated_hour(t, -math.inf) if self.local else t

    def after_latest(self, lines: int) -> bool:
        """Whether `lines` lines stamped after `latest` are placed at the line before (True),
        or their run is longer than `patience` and `latest` is given up (False)."""
        self.streak += lines
        if self.streak <= self.patience:
            self.ahead += lines
            return True
        self.latest, self.stale = math.inf, True
        return False

    def at(self, t: float | None, lines: int) -> float:
        """Where `lines` lines stamped `t` (None: no time) are placed, after the last ones."""
        if t is None:
            return self.last
        if t > self.latest and self.after_latest(lines):
            return self.last
        self.streak = 0
        if self.local and abs(t - self.last) > FUTURE:  # (a gap or a step back: rare)
            t = repeated_hour(t, self.last)
        self.last = t
        return t


def last_line_time(path: str, parser: Parser) -> float | None:
    """The time `parser` reads in the last line that has one among a plain file's last 64
    KiB (None: a compressed file, or no time there)."""
    text = tail(path)
    if text is None:
        return None
    spans = spans_of(parser)
    if spans is not None:
        return next((t for _, _, t in reversed(spans(text)) if t is not None), None)
    return next((t for t in reversed(parser.times(text.split("\n"))) if t is not None), None)


def last_entry_time(path: str) -> float | None:
    """The __REALTIME_TIMESTAMP of the last entry that has one among a plain journal export's
    last 64 KiB (None: a compressed export, or none there)."""
    text = tail(path)
    for line in reversed((text or "").split("\n")):
        try:
            stamp = json.loads(line).get("__REALTIME_TIMESTAMP")
        except (ValueError, AttributeError):
            continue
        if str(stamp).isdigit():
            return int(stamp) / 1e6
    return None


def file_runs(
    collector: str, path: str, parser: Parser, ptype: str = "", placing: Placing | None = None
) -> Iterator[Run]:
    """(time, sequence, lines) for each run of consecutive lines with the same time; a line
    without a time takes the previous line's (the first timed line's, before it), and so does
    one stamped after the file's last write (`Placing`). A run is a LogBatch, each line parsed
    only when the engine looks at it; the syslog parser reads the runs in the block's text
    (`spans`: each run a slice of it, never split into lines). ReplayError when the first
    block holds no line with a time the parser reads."""
    spans = spans_of(parser)
    place = placing or Placing()
    started = False
    n = 0
    for text in blocks(path):
        lines: list[str] = []
        if spans is not None:  # ranges of the text's characters
            ranges = _span_ranges(spans(text))
        else:  # ranges of its lines
            lines = text.split("\n")
            ranges = _line_ranges(parser.times(lines))
        if not started:
            first = next((t for t, _, _, _ in ranges if t is not None), None)
            if first is None:
                raise ReplayError(
                    f"{path}: no line of the first {text.count(chr(10)) + 1} has a time that "
                    f"collector {collector}'s {ptype or 'parser'} parser reads: check its "
                    f"`type`, `time_field` and `time_format` against the file's lines"
                )
            place.first(first)
            started = True
        for t, start, end in _merged(ranges, place):
            n += 1
            if spans is not None:
                yield t, n, batch(parser, collector, t, text=text[start:end])
            else:
                yield t, n, batch(parser, collector, t, lines=lines[start:end])


Range = tuple["float | None", int, int, int]  # (time, start, end, lines) of a run of lines


def _span_ranges(spans: list[tuple[int, int, float | None]]) -> list[Range]:
    """The character ranges of SyslogParser.spans (each from after the last one's newline)."""
    out: list[Range] = []
    start = 0
    for k, end, t in spans:
        out.append((t, start, end, k))
        start = end + 1
    return out


def _line_ranges(times: list[float | None]) -> list[Range]:
    """The line ranges of each run of equal times."""
    out: list[Range] = []
    start = 0
    for t, same in groupby(times):
        end = start + sum(1 for _ in same)
        out.append((t, start, end, end - start))
        start = end
    return out


def _merged(ranges: list[Range], place: Placing) -> Iterator[tuple[float, int, int]]:
    """The ranges each at the time `place.at` gives it (inlined: it is per run), adjacent
    ranges of one time joined."""
    run: tuple[float, int, int] | None = None
    last, latest, local = place.last, place.latest, place.local
    for t, start, end, k in ranges:
        if t is None:
            t = last
        elif t > latest:
            if place.after_latest(k):
                t = last
            else:
                latest = place.latest
        else:
            if place.streak:
                place.streak = 0
            if local and (t - last > FUTURE or last - t > FUTURE):
                t = repeated_hour(t, last)
        last = t
        if run is not None and run[0] == t:
            run = (t, run[1], end)
            continue
        if run is not None:
            place.last = last
            yield run
        run = (t, start, end)
    place.last = last
    if run is not None:
        yield run


def journal_runs(
    collector: str, path: str, cfg: JournaldConfig, placing: Placing | None = None
) -> Iterator[Run]:
    """The runs of a journald collector's export (`journalctl -o json`: one entry a line),
    each entry read as the collector reads it (its filters, its fields), at its
    __REALTIME_TIMESTAMP (one after the export's last write at the entry's before, as in
    `file_runs`). ReplayError for an entry without one, or a line that is not JSON."""
    place = placing or Placing()
    n = 0
    for events in _journal_events(path, cfg):
        if events and place.last != place.last:  # (NaN: the first entry)
            place.first(events[0].time)
        for t, same in groupby(events, key=lambda e: e.time):
            run = list(same)
            n += 1
            at = place.at(t, len(run))
            yield at, n, LogBatch.of_events(collector, at, run)


def _journal_events(path: str, cfg: JournaldConfig) -> Iterator[list[LogEvent]]:
    """The wanted entries' events, a block of lines at a time."""
    from alerter.collectors.journald import JournaldCollector, limited_event

    reader = JournaldCollector(cfg, NullPositions(), NullStats())
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
