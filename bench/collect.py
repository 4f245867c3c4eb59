"""File collector + regex parser throughput against a bare `for line in f: rx.search(line)` loop.

Generates a 1M-line nginx access log, then in the same run measures:
  bare       for line in f: rx.search(line)
  collector  FileCollector: read 1 MiB blocks, decode, split, run the regex over every line,
             hand LogBatches to a sink (events built on access, as the engine reads them)
  built      the same, with a sink that builds every LogEvent (a consumer touching every line)
and prints lines/s for each and the ratios to the bare loop (goal >= 0.7); then the latency
from writing a line to its arrival at the sink (goal < 250 ms).

    .venv/bin/python bench/collect.py [--lines N] [--pattern nginx|sshd]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerter.collectors.base import NullPositions, NullStats
from alerter.collectors.file import FileCollector, FileConfig
from alerter.collectors.parsers import ParserConfig
from alerter.core.events import LogBatch, Sample

PATTERNS = {
    "nginx": r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)[^"]*" '
    r"(?P<status>\d{3}) (?P<bytes>\d+)",
    "sshd": r"Failed password for (?:invalid user )?(?P<user>\S+) from (?P<ip>[\d.]+)",
}


def generate(path: Path, n: int, kind: str) -> None:
    with path.open("w") as f:
        for start in range(0, n, 10_000):
            if kind == "nginx":
                f.write(
                    "".join(
                        f"10.0.{i % 256}.{i % 7} - - [28/Nov/2026:07:{i % 60:02d}:00 +0000] "
                        f'"GET /p/{i} HTTP/1.1" {200 + i % 5} {i % 9999} "-" "curl/8.0"\n'
                        for i in range(start, min(n, start + 10_000))
                    )
                )
            else:
                f.write(
                    "".join(
                        f"Nov 28 07:00:{i % 60:02d} web1 sshd[{i}]: "
                        + (
                            f"Failed password for root from 10.0.0.{i % 256} port 22 ssh2\n"
                            if i % 10 == 0
                            else "Accepted publickey for deploy from 10.0.0.9 port 22\n"
                        )
                        for i in range(start, min(n, start + 10_000))
                    )
                )


class CountingSink:
    """Counts lines; with `build`, also builds every LogEvent of the batch (as a consumer that
    looks at every event would), else leaves them to be built on access."""

    def __init__(self, total: int, build: bool) -> None:
        self.count = 0
        self.total = total
        self.build = build
        self.done = threading.Event()

    def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
        if self.build:
            for _ in batch:
                pass
        self.count += len(batch)
        if ack is not None:
            ack()
        if self.count >= self.total:
            self.done.set()
        return True

    def put_samples(self, samples: Sequence[Sample]) -> bool:
        raise AssertionError("a file collector sends log lines")


def bare(path: Path, rx: re.Pattern[str]) -> float:
    t = time.perf_counter()
    with path.open() as f:
        for line in f:
            rx.search(line)
    return time.perf_counter() - t


def collector(path: Path, pattern: str, n: int, build: bool) -> float:
    sink = CountingSink(n, build)
    c = FileCollector(
        FileConfig(
            name="bench",
            paths=(str(path),),
            start_at="beginning",
            parser=ParserConfig("regex", pattern),
        ),
        NullPositions(),
        NullStats(),
    )
    t = time.perf_counter()
    c.start(sink)
    sink.done.wait(120)
    elapsed = time.perf_counter() - t
    c.stop()
    assert sink.count == n, f"collector delivered {sink.count} of {n} lines"
    return elapsed


class StampingSink:
    """Records when each line (its text is its index) reached the sink."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}

    def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
        t = time.monotonic()
        for e in batch:
            self.arrived[int(e.line)] = t
        if ack is not None:
            ack()
        return True

    def put_samples(self, samples: Sequence[Sample]) -> bool:
        raise AssertionError("a file collector sends log lines")


def latency(tmp: Path, n: int) -> list[float]:
    """Seconds from writing a line to its arrival at the sink, for n lines written at random
    moments (the collector's default 100 ms poll)."""
    import random

    path = tmp / "latency.log"
    path.write_text("")
    sink = StampingSink()
    c = FileCollector(
        FileConfig(name="lat", paths=(str(path),), start_at="beginning"),
        NullPositions(),
        NullStats(),
    )
    c.start(sink)
    written: dict[int, float] = {}
    with path.open("a") as f:
        for i in range(n):
            time.sleep(random.uniform(0.02, 0.12))
            f.write(f"{i}\n")
            f.flush()
            written[i] = time.monotonic()
    deadline = time.monotonic() + 5
    while len(sink.arrived) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    c.stop()
    return sorted(sink.arrived[i] - written[i] for i in written if i in sink.arrived)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--pattern", choices=sorted(PATTERNS), default="nginx")
    ap.add_argument("--latency-lines", type=int, default=30)
    args = ap.parse_args()
    n, pattern = args.lines, PATTERNS[args.pattern]
    from alerter.runtime import tuning

    tuning.tune_process()  # the daemon's allocator setting, as it applies it before collecting
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.log"
        generate(path, n, args.pattern)
        size = os.path.getsize(path)
        rx = re.compile(pattern)
        bare(path, rx)  # warm the page cache
        b = min(bare(path, rx) for _ in range(2))
        lazy = min(collector(path, pattern, n, False) for _ in range(2))
        built = min(collector(path, pattern, n, True) for _ in range(2))
        lat = latency(Path(tmp), args.latency_lines)
    print(f"{args.pattern} log: {n} lines, {size / 1e6:.0f} MB")
    print(f"bare loop:                          {n / b:>12,.0f} lines/s")
    print(
        f"file collector+regex (LogBatch):    {n / lazy:>12,.0f} lines/s   ratio {b / lazy:.2f} (goal >= 0.7)"
    )
    print(
        f"  ... and every LogEvent built:     {n / built:>12,.0f} lines/s   ratio {b / built:.2f}"
    )
    if lat:
        print(
            f"write-to-sink latency ({len(lat)} lines): median {lat[len(lat) // 2] * 1000:.0f} ms, "
            f"max {lat[-1] * 1000:.0f} ms (goal < 250 ms)"
        )


if __name__ == "__main__":
    main()
