"""`alerter replay`: log files (and journald exports) through the rules by their own times.

The same engine as the daemon, on a clock that is the latest line time seen (DESIGN "Event
time"): between line times it steps through every evaluation due, so `absent`, `for`,
`keep_firing_for` and resolves happen when they would have live, as `alerter test` says for
the same input. A line whose time steps back is placed in its window if still open, else
skipped and counted. Transitions go to stdout as JSON lines; a summary (lines, skipped,
transitions, lines/s) to stderr, and a progress line while stderr is a terminal.
"""

from __future__ import annotations

import argparse
import functools
import glob
import heapq
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, TextIO

from alerter.cli.replayfiles import ReplayError, blocks
from alerter.collectors.journald import JournaldConfig
from alerter.config.values import parse_duration
from alerter.rules.alert import Transition
from alerter.rules.engine import Engine, NoHooks
from alerter.rules.events import LogBatch, LogEvent
from alerter.rules.templates import rfc3339

PROGRESS_EVERY = 0.5  # seconds between progress lines on a terminal

# (time, sequence, lines of that time): what each replayed file yields, in its order
Run = tuple[float, int, LogBatch]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser("replay", help="feed log files through the rules by their timestamps")
    replay.add_argument("-c", "--config", required=True, metavar="FILE")
    replay.add_argument(
        "--log",
        action="append",
        default=[],
        metavar="COLLECTOR=PATH",
        help="read PATH as collector COLLECTOR's log: a file collector's log file, or a "
        "journald collector's export (journalctl -o json > PATH); repeatable; default: the "
        "file collectors' own paths",
    )
    replay.add_argument(
        "--from",
        dest="from_",
        metavar="T",
        help="start time: RFC 3339, epoch seconds, or a duration before --to",
    )
    replay.add_argument("--to", metavar="T", help="end time: RFC 3339 or epoch seconds")
    replay.set_defaults(func=cmd_replay)


def parse_bound(text: str) -> float:
    """A --from or --to time: RFC 3339 (`2024-05-01T10:00:00Z`) or epoch seconds."""
    from datetime import datetime

    try:
        t = float(text)
    except ValueError:
        pass
    else:
        if not 0 <= t < 1e11:  # nan, inf, a negative time, or milliseconds
            raise ValueError(f"invalid time {text!r}: epoch seconds from 0 to 99999999999")
        return t
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use RFC 3339 (2024-05-01T10:00:00Z) or epoch seconds"
            " (a duration such as 1h is --from's, before a --to)"
        ) from None


def transition_json(t: Transition) -> str:
    a = t.alert
    return json.dumps(
        {
            "time": rfc3339(t.time),
            "alertname": a.alertname,
            "state": a.state,
            "labels": dict(a.labels),
            "value": a.value,
            "annotations": dict(a.annotations),
        }
    )


# --- reading -------------------------------------------------------------------------------


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


def file_runs(collector: str, path: str, parser: Any, ptype: str = "") -> Iterator[Run]:
    """(time, sequence, lines) for each run of consecutive lines with the same time; a line
    without a time takes the previous line's (the first timed line's, before it). A run is a
    LogBatch, each line parsed only when the engine looks at it; the syslog parser reads the
    runs in the block's text (`spans`: each run a slice of it, never split into lines).
    ReplayError when the first block holds no line with a time the parser reads."""
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
        for t, start, end in _merged(ranges, last):
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


def _merged(ranges: list[Range], last: float) -> Iterator[tuple[float, int, int]]:
    """The ranges with a time each (a range without one takes the time before it), adjacent
    ranges of one time joined."""
    run: tuple[float, int, int] | None = None
    for t, start, end in ranges:
        at = last if t is None else t
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
            if not str(entry.get("__REALTIME_TIMESTAMP", "")).isdigit():
                raise ReplayError(
                    f"{path}:{lineno}: the entry has no __REALTIME_TIMESTAMP: export the "
                    f"journal with `journalctl -o json` (not json-seq/short), which keeps it"
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


# --- the replay ----------------------------------------------------------------------------


@dataclass
class Summary:
    lines: int = 0
    skipped: int = 0  # late: older than a rule's window at the clock (time stepping back)
    transitions: int = 0
    seconds: float = 0.0
    late: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        none = "; no line replayed: the logs are empty, or --from/--to leave none" * (
            not self.lines
        )
        return (
            f"replay: {self.lines} lines, {self.skipped} skipped (late), "
            f"{self.transitions} transitions, {self.seconds:.1f} s, {rate:,.0f} lines/s{none}"
        )


class LateCounter(NoHooks):
    """The engine's hooks for replay: counts the lines the rules skipped as late."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary

    def events_late(self, source: str, count: int) -> None:
        self.summary.skipped += count
        self.summary.late[source] = self.summary.late.get(source, 0) + count


class Replay:
    """Feeds runs to the engine on the replay clock (the latest line time seen), stepping
    through every evaluation due before each new time."""

    def __init__(self, engine: Engine, out: TextIO, summary: Summary) -> None:
        self.engine = engine
        self.out = out
        self.summary = summary
        self.clock: float | None = None
        self.skip = True  # skip the evaluations that change nothing (tests compare without)

    def emit(self, transitions: Sequence[Transition]) -> None:
        if transitions:
            self.summary.transitions += len(transitions)
            self.out.write("".join(transition_json(tr) + "\n" for tr in transitions))

    def step(self, until: float, inclusive: bool) -> None:
        """Run every evaluation due before `until` (or at it, if `inclusive`), but for those
        that cannot change anything with no new input (Engine.quiet_until): across a long
        silence, only the evaluations that fire or resolve something run."""
        engine = self.engine
        ticked = False
        while True:
            due = engine.next_due()
            if due is None:  # the first evaluation: at the first lines' time, after them
                if self.clock is None or ticked:
                    return
                due = self.clock
            if due > until or (due == until and not inclusive):
                return
            self.emit(engine.tick(due))
            ticked = True
            if self.skip and (nxt := engine.next_due()) is not None and nxt < until:
                quiet = engine.quiet_until(due)
                if quiet > nxt:  # the last evaluation before `until` runs (alert values)
                    engine.skip_to(min(quiet, until), keep_last=quiet >= until)

    def feed(self, t: float, run: LogBatch) -> None:
        if self.clock is None:
            self.clock = t
        elif t > self.clock:
            self.step(t, inclusive=False)
            self.clock = t
        self.emit(self.engine.process(run, self.clock, at=t))
        self.summary.lines += len(run)

    def finish(self, end: float | None) -> None:
        if self.clock is None:
            return
        self.step(self.clock if end is None else max(end, self.clock), inclusive=True)


def replay(
    engine: Engine,
    streams: Sequence[Iterable[Run]],
    start: float | None,
    end: float | None,
    out: TextIO,
    summary: Summary | None = None,
    progress: TextIO | None = None,
) -> Summary:
    """Feed the streams' runs merged in time order; print transitions to `out`, progress to
    `progress` (a terminal) when given."""
    summary = summary or Summary()
    r = Replay(engine, out, summary)
    t0 = time.monotonic()
    shown = t0
    try:
        for t, _, run in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
            if start is not None and t < start:
                continue
            if end is not None and t > end:
                break
            r.feed(t, run)
            if progress is not None and (now := time.monotonic()) - shown >= PROGRESS_EVERY:
                shown = now
                rate = summary.lines / (now - t0)
                progress.write(
                    f"\rreplay: at {rfc3339(t)}, {summary.lines} lines, {summary.skipped} "
                    f"skipped, {summary.transitions} transitions, {rate:,.0f} lines/s "
                )
                progress.flush()
        r.finish(end)
    finally:  # (also when interrupted: the summary of what was replayed)
        summary.seconds = time.monotonic() - t0
        if progress is not None and shown != t0:
            progress.write("\r\x1b[K")
    return summary


def cmd_replay(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from alerter.collectors.parsers import make_parser
    from alerter.config.load import load_config
    from alerter.errors import ConfigError

    err = sys.stderr
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(str(e), file=err)
        return 1
    collectors = {c.name: c for c in cfg.collectors}
    pairs: list[tuple[str, str]] = []
    for spec in args.log:
        name, sep, path = spec.partition("=")
        if not sep or name not in collectors:
            print(
                f"--log {spec}: expected COLLECTOR=PATH with a collector of {args.config} "
                f"(have: {', '.join(sorted(collectors))})",
                file=err,
            )
            return 2
        if collectors[name].type not in ("file", "journald"):
            print(
                f"--log {spec}: collector {name} is a {collectors[name].type} collector; "
                f"replay reads file collectors' logs and journald collectors' exports",
                file=err,
            )
            return 2
        if (name, path) in pairs:
            print(f"--log {spec}: given twice (its lines would count twice)", file=err)
            return 2
        pairs.append((name, path))
    if not args.log:
        for c in cfg.collectors:
            if c.type == "file":
                paths = getattr(c.spec, "paths", ())
                pairs.extend((c.name, p) for pat in paths for p in sorted(glob.glob(pat)))
    try:
        end = parse_bound(args.to) if args.to else None
        start = None
        if args.from_:
            try:
                start = parse_bound(args.from_)
            except ValueError:
                if end is None:
                    raise
                start = end - parse_duration(args.from_)
        if start is not None and end is not None and start >= end:
            raise ValueError(f"--from {args.from_} is not before --to {args.to}: nothing to replay")
    except ValueError as e:
        print(str(e), file=err)
        return 2
    streams: list[Iterable[Run]] = []
    for name, path in pairs:
        if not Path(path).is_file():
            what = "a directory (give the files in it)" if Path(path).is_dir() else "no such file"
            print(f"--log {name}={path}: {what}", file=err)
            return 2
        c = collectors[name]
        if isinstance(c.spec, JournaldConfig):
            streams.append(journal_runs(name, path, c.spec))
            continue
        parser_cfg = c.parser
        why = untimed_parser(name, parser_cfg)
        if why is not None or parser_cfg is None:
            print(why, file=err)
            return 2
        # a year-less stamp (syslog's) gets the year that puts it before the file's last write,
        # not before today: a log of Dec 4-8 last year, replayed on Dec 6, stays in order
        parser = make_parser(parser_cfg, functools.partial(float, os.stat(path).st_mtime))
        streams.append(file_runs(name, path, parser, parser_cfg.type))
    summary = Summary()
    engine = Engine(cfg.rules, cfg.alert_labels(), LateCounter(summary))
    try:
        replay(engine, streams, start, end, out, summary, err if err.isatty() else None)
    except ReplayError as e:
        print(str(e), file=err)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what was replayed so far, as the shell's 130 says
        out.flush()
        print(f"{summary.line()}; interrupted, the rest not read", file=err)
        return 130
    print(summary.line(), file=err)
    return 0
