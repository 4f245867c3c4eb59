"""`alerter test` (rule unit tests) and `alerter replay` (backtest log files through the rules).

Both drive the same pure engine as the daemon; this module does their file reading and output.
"""

from __future__ import annotations

import argparse
import glob
import heapq
import json
import sys
from collections.abc import Iterator, Sequence
from importlib import resources
from itertools import groupby
from pathlib import Path
from typing import Any, TextIO

from alerter.config.yamlsource import MapReader, Node, SourceError, parse_duration
from alerter.rules.alert import Transition
from alerter.rules.engine import Engine
from alerter.rules.events import LogBatch
from alerter.rules.ruletest import LineParser, run_test_file
from alerter.rules.templates import rfc3339


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = sub.add_parser("test", help="run rule unit tests (promtool's format plus input_logs)")
    test.add_argument("files", nargs="+", metavar="FILE")
    test.set_defaults(func=cmd_test)

    replay = sub.add_parser("replay", help="feed log files through the rules by their timestamps")
    replay.add_argument("-c", "--config", required=True, metavar="FILE")
    replay.add_argument(
        "--log",
        action="append",
        default=[],
        metavar="COLLECTOR=PATH",
        help="read PATH as collector COLLECTOR's log (repeatable; default: the "
        "file collectors' own paths)",
    )
    replay.add_argument(
        "--from",
        dest="from_",
        metavar="T",
        help="start time: RFC 3339, epoch seconds, or a duration before --to",
    )
    replay.add_argument("--to", metavar="T", help="end time: RFC 3339 or epoch seconds")
    replay.set_defaults(func=cmd_replay)


# --- alerter test ------------------------------------------------------------------------------


def _rule_file_reader(base: Path) -> Any:
    def read(name: str) -> tuple[str, str]:
        if name.startswith("builtin:"):
            pack = name.removeprefix("builtin:")
            res = resources.files("alerter.rules").joinpath("packs", f"{pack}.yaml")
            return name, res.read_text()
        path = Path(name) if Path(name).is_absolute() else base / name
        return str(path), path.read_text()

    return read


def _parse_line(r: MapReader) -> LineParser | None:
    """`parser:` of input_logs as a file collector reads it: a type (`parser: syslog`), or the
    mapping with its options (`{type: regex, pattern: ..., time_field: ..., time_format: ...}`)."""
    from alerter.collectors.parsers import PARSER_TYPES, make_parser
    from alerter.config.collectors import read_parser

    node = r.raw("parser")
    if node is not None and isinstance(node.value, dict):
        cfg = read_parser(r.map("parser"))
    else:
        ptype = r.choice("parser", PARSER_TYPES)
        if ptype is None:
            return None
        mark = node.mark if node is not None else r.mark
        holder = Node({"type": Node(ptype, mark)}, mark)
        cfg = read_parser(MapReader(holder, r.problems, "parser"))
    if cfg is None:
        return None
    parser = make_parser(cfg)
    return lambda line: parser.parse(line)[0]


def cmd_test(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    ok = True
    total = 0
    for f in args.files:
        try:
            text = Path(f).read_text()
            result = run_test_file(f, text, _rule_file_reader(Path(f).parent), _parse_line)
        except SourceError as e:
            print(str(e), file=out)
            ok = False
            continue
        except OSError as e:
            print(f"{f}: cannot read: {e.strerror} ({e.filename})", file=out)
            ok = False
            continue
        total += result.tests
        for failure in result.failures:
            print(failure, file=out)
        ok = ok and result.ok
        status = "SUCCESS" if result.ok else f"FAILED ({len(result.failures)} checks)"
        print(f"{f}: {result.tests} tests: {status}", file=out)
    return 0 if ok else 1


# --- alerter replay ----------------------------------------------------------------------------


def parse_time(text: str) -> float:
    """RFC 3339 (`2024-05-01T10:00:00Z`) or epoch seconds."""
    from datetime import datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"invalid time {text!r}: use RFC 3339 or epoch seconds") from None


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


def _parser_config(c: Any) -> Any:
    from alerter.collectors.parsers import ParserConfig

    return getattr(c, "parser", None) or ParserConfig()


_BLOCK = 1 << 22  # characters read at a time


def _events(collector: str, path: str, parser: Any) -> Iterator[tuple[float, int, LogBatch]]:
    """(time, sequence, events) for each run of consecutive lines with the same time; a line
    without a time takes the previous line's. The parser times every line; a run's events are
    a LogBatch, each line parsed only when the engine looks at it (its parsed time is the
    run's time: the run is the lines of that time, or of none after a line of that time)."""
    from alerter.collectors.parsers import batch

    def run_of(lines: list[str], t: float) -> LogBatch:
        return batch(parser, collector, t, lines=lines)

    last = 0.0
    n = 0
    for lines in _blocks(path):
        times = parser.times(lines)
        if None in times:
            for i, t in enumerate(times):
                if t is None:
                    times[i] = last
                else:
                    last = t
        start = 0
        for t, same in groupby(times):
            end = start + len(list(same))
            n += 1
            yield t, n, run_of(lines[start:end], t)
            start = end
        last = times[-1]


def _blocks(path: str) -> Iterator[list[str]]:
    """The file's lines (newline-split, without the newline), a few MiB at a time."""
    with open(path, encoding="utf-8", errors="replace") as f:
        carry = ""
        while True:
            text = f.read(_BLOCK)
            if not text:
                if carry:
                    yield [carry]
                return
            lines = text.split("\n")
            lines[0] = carry + lines[0]
            carry = lines.pop()
            if lines:
                yield lines


def replay(
    engine: Engine,
    streams: Sequence[Iterator[tuple[float, int, LogBatch]]],
    start: float | None,
    end: float | None,
    out: TextIO,
) -> int:
    """Feed the streams' runs merged in time order, each at its own time, evaluating the
    groups due after each distinct time; print transitions. Returns the number of events."""
    count = 0
    current: float | None = None
    write = out.write
    for t, _, run in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
        if start is not None and t < start:
            continue
        if end is not None and t > end:
            break
        if current is not None and t != current:
            for tr in engine.tick(current):
                write(transition_json(tr) + "\n")
        current = t
        for tr in engine.process(run, t):
            write(transition_json(tr) + "\n")
        count += len(run)
    if current is not None:
        for tr in engine.tick(current):
            write(transition_json(tr) + "\n")
    return count


def cmd_replay(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from alerter.collectors.parsers import make_parser
    from alerter.config.load import load_config
    from alerter.errors import ConfigError

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    collectors = {c.name: c for c in cfg.collectors}
    pairs: list[tuple[str, str]] = []
    for spec in args.log:
        name, sep, path = spec.partition("=")
        if not sep or name not in collectors:
            print(
                f"--log {spec}: expected COLLECTOR=PATH with a collector of {args.config} "
                f"(have: {', '.join(sorted(collectors))})",
                file=sys.stderr,
            )
            return 2
        pairs.append((name, path))
    if not args.log:
        for c in cfg.collectors:
            if c.type == "file":
                paths = getattr(c.spec, "paths", ())
                pairs.extend((c.name, p) for pat in paths for p in sorted(glob.glob(pat)))
    try:
        end = parse_time(args.to) if args.to else None
        start = None
        if args.from_:
            try:
                start = parse_time(args.from_)
            except ValueError:
                if end is None:
                    raise
                start = end - parse_duration(args.from_)
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    streams = []
    for name, path in pairs:
        if not Path(path).is_file():
            print(f"--log {name}={path}: no such file", file=sys.stderr)
            return 2
        streams.append(_events(name, path, make_parser(_parser_config(collectors[name]))))
    engine = Engine(cfg.rules, dict(cfg.global_.labels))
    replay(engine, streams, start, end, out)
    return 0
