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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from alerter.cli import argtypes
from alerter.cli.replayfiles import ReplayError
from alerter.cli.replayruns import (
    PATIENCE,
    Placing,
    Run,
    file_runs,
    journal_runs,
    last_entry_time,
    last_line_time,
    untimed_parser,
)
from alerter.collectors.journald import JournaldConfig
from alerter.core.events import LogBatch
from alerter.core.values import counted, parse_duration
from alerter.rules.alert import Transition
from alerter.rules.engine import Engine
from alerter.rules.enginehooks import NoHooks
from alerter.rules.templates import rfc3339

PROGRESS_EVERY = 0.5  # seconds between progress lines on a terminal


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser("replay", help="feed log files through the rules by their timestamps")
    argtypes.config_option(replay, required=True)
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


# --- the replay ----------------------------------------------------------------------------


@dataclass
class Summary:
    lines: int = 0
    skipped: int = 0  # late: older than every rule's window at the clock (time stepping back)
    transitions: int = 0
    seconds: float = 0.0
    late: dict[str, int] = field(default_factory=dict)
    ahead: int = 0  # stamped after their file's last write: placed at the line before
    stale: list[str] = field(default_factory=list)  # files last written before their lines

    def placed(self, logs: Sequence[tuple[str, str]], placings: Sequence[Placing]) -> None:
        """Take what each log's placing placed otherwise than stamped (`logs`' order)."""
        self.ahead = sum(p.ahead for p in placings)
        self.stale = [path for (_, path), p in zip(logs, placings, strict=True) if p.stale]

    def line(self) -> str:
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        none = "; no line replayed: the logs are empty, or --from/--to leave none" * (
            not self.lines
        )
        ahead = (
            f"; {counted(self.ahead, 'line')} stamped more than 5m after "
            f"{'its' if self.ahead == 1 else 'their'} file's last write, placed at the line "
            f"before"
            if self.ahead
            else ""
        )
        stale = "".join(
            f"; {path}: the file's last write (mtime) is older than its lines, placed at their "
            f"own times after {PATIENCE} in a row"
            for path in self.stale
        )
        return (
            f"replay: {counted(self.lines, 'line')}, {self.skipped} skipped (late), "
            f"{counted(self.transitions, 'transition')}, {self.seconds:.1f} s, {rate:,.0f} lines/s"
            f"{none}{ahead}{stale}"
        )


class LateCounter(NoHooks):
    """The engine's hooks for replay: counts the lines the rules skipped as late."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary

    def events_uncounted(self, source: str, count: int, age: float, now: float) -> None:
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
                    f"\rreplay: at {rfc3339(t)}, {counted(summary.lines, 'line')}, "
                    f"{summary.skipped} skipped, {counted(summary.transitions, 'transition')}, "
                    f"{rate:,.0f} lines/s "
                )
                progress.flush()
        r.finish(end)
    finally:  # (also when interrupted: the summary of what was replayed)
        summary.seconds = time.monotonic() - t0
        if progress is not None and shown != t0:
            progress.write("\r\x1b[K")
    return summary


def cmd_replay(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out  # (looked up at the call: a test may replace it)
    from alerter.collectors.parsers import make_parser
    from alerter.collectors.timefmt import local_stamps
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
        files = [c for c in cfg.collectors if c.type == "file"]
        for c in files:
            paths = getattr(c.spec, "paths", ())
            pairs.extend((c.name, p) for pat in paths for p in sorted(glob.glob(pat)))
        if not pairs:
            print(
                f"{args.config}: no log to replay: "
                + ("its file collectors' paths match no file" if files else "no file collector")
                + "; give --log COLLECTOR=PATH (for a journald collector, PATH is an export:"
                " journalctl -o json > PATH)",
                file=err,
            )
            return 2
    option = "--to"
    try:
        end = parse_bound(args.to) if args.to else None
        start = None
        option = "--from"
        if args.from_:
            try:
                start = parse_bound(args.from_)
            except ValueError:
                if end is None:
                    raise
                start = end - parse_duration(args.from_)
        if start is not None and end is not None and start >= end:
            raise ValueError(f"{args.from_} is not before --to {args.to}: nothing to replay")
    except ValueError as e:
        print(f"{option}: {e}", file=err)
        return 2
    # From here, what is wrong is in the logs or the config, not in the command line: a
    # failure (1), as `check` and `test` fail on a file they cannot read
    streams: list[Iterable[Run]] = []
    placings: list[Placing] = []
    for name, path in pairs:
        if not Path(path).is_file():
            what = "a directory (give the files in it)" if Path(path).is_dir() else "no such file"
            print(f"--log {name}={path}: {what}", file=err)
            return 1
        c = collectors[name]
        if isinstance(c.spec, JournaldConfig):
            placings.append(Placing.of(path, last_line=last_entry_time(path)))
            streams.append(journal_runs(name, path, c.spec, placings[-1]))
            continue
        parser_cfg = c.parser
        why = untimed_parser(name, parser_cfg)
        if why is not None or parser_cfg is None:
            print(why, file=err)
            return 1
        # a year-less stamp (syslog's) gets the year that puts it before the file's last write,
        # not before today: a log of Dec 4-8 last year, replayed on Dec 6, stays in order
        parser = make_parser(parser_cfg, functools.partial(float, os.stat(path).st_mtime))
        local = parser_cfg.type == "syslog" or local_stamps(parser_cfg.time_format)
        placings.append(Placing.of(path, local, last_line_time(path, parser)))
        streams.append(file_runs(name, path, parser, parser_cfg.type, placings[-1]))
    summary = Summary()
    engine = Engine(cfg.rules, cfg.alert_labels(), LateCounter(summary))
    try:
        replay(engine, streams, start, end, out, summary, err if err.isatty() else None)
    except ReplayError as e:
        print(str(e), file=err)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what was replayed so far, as the shell's 130 says
        out.flush()
        summary.placed(pairs, placings)
        print(f"{summary.line()}; interrupted, the rest not read", file=err)
        return 130
    summary.placed(pairs, placings)
    print(summary.line(), file=err)
    return 0
