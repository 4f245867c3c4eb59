"""copytruncate on real files: the lines the collector had not read when the file was truncated
are read from the copy; without a readable copy, what is known lost is counted and logged once;
a restart at any durable point of the copy phase loses nothing."""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import structlog

import alerter.collectors.tail
from alerter.collectors.file import FileCollector, FileConfig
from alerter.core.events import LogBatch
from alerter.testing import MemoryPositions, RecordingSink, RecordingStats
from tests.collectors.conftest import others_read_to_end
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

LINE = "line {:05d}"  # every line the same length, so the lost-line estimate is exact


class GatedSink(RecordingSink):
    """A bus that fills up: `allowed` puts pass, the next blocks (before the batch is queued)
    until `allow` lets more through; `close` makes it return False, as a stopping daemon's."""

    def __init__(self, allowed: int | None = 0) -> None:
        super().__init__()
        self.cond = threading.Condition()
        self.allowed = allowed  # None: every put passes
        self.blocked = False
        self.closed = False

    def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
        with self.cond:
            while self.allowed is not None and self.allowed <= 0 and not self.closed:
                self.blocked = True
                self.cond.wait()
            self.blocked = False
            if self.closed:
                return False
            if self.allowed is not None:
                self.allowed -= 1
        return super().put_lines(batch, ack)

    def allow(self, n: int | None) -> None:
        with self.cond:
            self.allowed = n
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class JournalPositions(MemoryPositions):
    """Positions that remember every call: `replay(n)` is the store as it would be had only
    the first n calls become durable (the daemon commits staged saves in call order)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict[str, str] | list[str]]] = []

    def save_positions(self, collector: str, positions: dict[str, str]) -> None:
        with self.lock:
            self.calls.append(("save", collector, dict(positions)))
        super().save_positions(collector, positions)

    def delete_positions(self, collector: str, keys: Sequence[str]) -> None:
        with self.lock:
            self.calls.append(("delete", collector, list(keys)))
        super().delete_positions(collector, keys)

    def replay(self, n: int) -> MemoryPositions:
        out = MemoryPositions()
        for op, collector, arg in self.calls[:n]:
            if op == "save":
                assert isinstance(arg, dict)
                out.save_positions(collector, arg)
            else:
                out.delete_positions(collector, list(arg))
        return out


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.log = tmp / "app.log"
        self.stats = RecordingStats()
        self.running: list[tuple[FileCollector, RecordingSink]] = []

    def start(
        self, positions: MemoryPositions, sink: RecordingSink | None = None, **kw: Any
    ) -> tuple[FileCollector, RecordingSink]:
        config = FileConfig(
            "f", (str(self.log),), start_at="beginning", poll_interval=0.02, rotate_wait=0.5
        )
        c = FileCollector(dataclasses.replace(config, **kw), positions, self.stats)
        s = sink or RecordingSink()
        c.start(s)
        self.running.append((c, s))
        return c, s

    def start_gated(
        self, positions: MemoryPositions, allowed: int = 0, **kw: object
    ) -> tuple[FileCollector, GatedSink]:
        sink = GatedSink(allowed)
        c, _ = self.start(positions, sink, **kw)
        return c, sink

    def stop(self, c: FileCollector) -> None:
        for i, (running, s) in enumerate(self.running):
            if running is c:
                if isinstance(s, GatedSink):
                    s.close()
                c.stop()
                del self.running[i]
                return

    def write(self, first: int, n: int) -> list[str]:
        lines = [LINE.format(i) for i in range(first, first + n)]
        with self.log.open("a") as f:
            f.write("".join(x + "\n" for x in lines))
        return lines

    def copytruncate(self, copy_to: str = "app.log.1") -> None:
        """What logrotate does: copy the file, then truncate it in place."""
        shutil.copyfile(self.log, self.tmp / copy_to)
        with self.log.open("r+") as f:
            f.truncate(0)

    def dropped(self) -> int:
        return self.stats.drops[("f", "truncated")]


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    for c, _ in list(harness.running):
        harness.stop(c)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Blocks of max_line_bytes + 1 = 65 bytes: 5 lines per batch, so a collector that is
    blocked has seen how large the file is but not read most of it."""
    monkeypatch.setattr(alerter.collectors.tail, "BLOCK_BYTES", 1)
    return 64


def test_lines_unread_at_truncation_are_read_from_the_copy(h: Harness) -> None:
    written = h.write(0, 10)
    _, sink = h.start_gated(MemoryPositions())
    wait_for(lambda: sink.blocked)  # holding lines 0-9
    written += h.write(10, 500)  # the collector lags: it has not seen these
    h.copytruncate()
    after = ["after 1", "after 2"]
    with h.log.open("a") as f:
        f.write("".join(x + "\n" for x in after))
    sink.allow(None)
    wait_for(lambda: len(sink.lines) >= 512)
    assert sink.lines == written + after  # every line once, in order: the copy's first
    assert h.dropped() == 0


def test_lines_unread_at_truncation_are_read_from_a_dateext_copy(h: Harness) -> None:
    h.write(5000, 200)  # an older rotation: other contents, as long
    older = h.tmp / "app.log-20240101"
    os.rename(h.log, older)
    written = h.write(0, 10)
    _, sink = h.start_gated(MemoryPositions())
    wait_for(lambda: sink.blocked)
    written += h.write(10, 100)
    h.copytruncate("app.log-20240102")
    future = older.stat().st_mtime + 3600  # looked at first: rejected by its contents
    os.utime(older, (future, future))
    sink.allow(None)
    wait_for(lambda: len(sink.lines) >= 110)
    h.write(200, 1)
    wait_for(lambda: sink.lines == [*written, LINE.format(200)])
    assert h.dropped() == 0


def test_without_a_copy_the_unread_lines_are_counted_and_logged_once(
    h: Harness, small_blocks: int
) -> None:
    h.write(0, 510)
    with structlog.testing.capture_logs() as logs:
        _, sink = h.start_gated(MemoryPositions(), max_line_bytes=small_blocks)
        wait_for(lambda: sink.blocked)  # has read the first block, knows the file's size
        with h.log.open("r+") as f:
            f.truncate(0)
        sink.allow(None)
        wait_for(lambda: h.dropped() > 0)
        h.write(1000, 3)
        wait_for(lambda: sink.lines[-3:] == [LINE.format(i) for i in range(1000, 1003)])
    read_before = len(sink.lines) - 3
    assert h.dropped() == 510 - read_before
    lost = [e for e in logs if e["event"] == "file_truncated_lines_lost"]
    assert len(lost) == 1
    assert lost[0]["path"] == str(h.log) and lost[0]["lines"] == 510 - read_before
    assert lost[0]["bytes"] == (510 - read_before) * len(LINE.format(0) + "\n")
    assert lost[0]["copy"] is None


def test_a_copy_compressed_already_counts_every_unread_line(h: Harness) -> None:
    """The issue's case: 10 lines read, 500 written while the daemon lagged, then logrotate
    with `compress` and no `delaycompress`. The gzip copy tells how long the file was."""
    older = h.tmp / "app.log.2.gz"
    with gzip.open(older, "wb") as gz:  # newer on disk, other contents: not the copy
        gz.write(b"".join(b"old %05d\n" % i for i in range(2000)))
    h.write(0, 10)
    _, sink = h.start_gated(MemoryPositions())
    wait_for(lambda: sink.blocked)
    h.write(10, 500)
    h.copytruncate()
    with (h.tmp / "app.log.1").open("rb") as src, gzip.open(h.tmp / "app.log.1.gz", "wb") as gz:
        shutil.copyfileobj(src, gz)
    (h.tmp / "app.log.1").unlink()
    future = (h.tmp / "app.log.1.gz").stat().st_mtime + 3600
    os.utime(older, (future, future))
    with structlog.testing.capture_logs() as logs:
        sink.allow(None)
        wait_for(lambda: h.dropped() > 0)
    assert h.dropped() == 500
    assert sink.lines == [LINE.format(i) for i in range(10)]
    (lost,) = [e for e in logs if e["event"] == "file_truncated_lines_lost"]
    assert lost["compressed_copy"] == str(h.tmp / "app.log.1.gz") and lost["copy"] is None


def test_truncation_when_the_collector_is_not_behind_repeats_and_loses_nothing(
    h: Harness,
) -> None:
    written = h.write(0, 50)
    _, sink = h.start(MemoryPositions())
    wait_for(lambda: len(sink.lines) == 50)
    h.copytruncate()
    written += h.write(50, 2)
    wait_for(lambda: sink.lines == written)
    assert h.dropped() == 0


def test_rename_rotation_while_lagging_still_finishes_the_old_file(h: Harness) -> None:
    written = h.write(0, 10)
    _, sink = h.start_gated(MemoryPositions())
    wait_for(lambda: sink.blocked)
    written += h.write(10, 500)
    os.rename(h.log, h.tmp / "app.log.1")
    written += h.write(510, 5)
    sink.allow(None)
    wait_for(lambda: sorted(sink.lines) == sorted(written))
    assert len(sink.lines) == len(written) and h.dropped() == 0


def test_restart_from_any_durable_point_of_the_copy_phase_loses_nothing(
    h: Harness, small_blocks: int
) -> None:
    """The first collector reads part of the copy, then stops; a second one starts on the
    positions as they would be had only the first n saves been committed, for every n."""
    written = h.write(0, 10)
    journal = JournalPositions()
    c1, sink1 = h.start_gated(journal, max_line_bytes=small_blocks)
    wait_for(lambda: sink1.blocked)  # holding lines 0-4: 5-9 are unread
    written += h.write(10, 500)
    h.copytruncate()
    after = h.write(2000, 3)
    sink1.allow(30)  # then blocked again, in the middle of the copy
    wait_for(lambda: sink1.blocked and len(sink1.lines) == 150)
    h.stop(c1)
    first = list(sink1.lines)
    assert first == written[:150]
    calls = len(journal.calls)
    assert calls > 30  # one save per acknowledged batch, and one at the truncation

    every = [*written, *after]

    def read_the_rest(s: RecordingSink) -> bool:
        return set(first) | set(s.lines) == set(every)

    # From 1: with no position at all (0), the file is new to the collector and its past unknown.
    for n in range(1, calls + 1):
        c2, sink2 = h.start(journal.replay(n), rotate_wait=60, max_line_bytes=small_blocks)
        wait_for(partial(read_the_rest, sink2))
        assert len(sink2.lines) == len(set(sink2.lines)), f"a line twice after {n} saves"
        h.stop(c2)
    # Everything durable: the second collector reads exactly what the first had not.
    assert sorted(sink2.lines) == sorted(every[150:])


def test_batches_acknowledged_after_the_truncation_advance_the_copys_position(h: Harness) -> None:
    """Acks of batches read from the original before it was truncated belong to the copy: once
    the copy is finished and closed, a restart repeats none of its lines."""
    positions = MemoryPositions()
    written = h.write(0, 10)
    c, sink = h.start_gated(positions)
    sink.auto_ack = False
    wait_for(lambda: sink.blocked)
    written += h.write(10, 500)
    h.copytruncate()
    sink.allow(None)
    wait_for(lambda: sink.lines == written)
    sink.ack_all()  # the first batch (read from app.log) is acknowledged after the truncation
    wait_for(lambda: others_read_to_end(positions, h.log))  # the copy finished and closed
    h.stop(c)
    later = h.write(600, 2)
    _, again = h.start(positions)
    wait_for(lambda: again.lines == later)
