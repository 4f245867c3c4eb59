"""Stopping the file collector while its thread is stuck (a send that does not return, as a
read on a hung network file system): its files stay open until the thread ends, then close."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from alerter.collectors.file import FileCollector, FileConfig
from alerter.core.events import LogBatch
from alerter.testing import MemoryPositions, RecordingSink, RecordingStats
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


class StuckSink(RecordingSink):
    """Holds the first batch until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
        self.entered.set()
        self.release.wait(30)
        return super().put_lines(batch, ack)


def open_on(path: Path) -> int:
    """How many of this process's descriptors are open on `path`."""
    fds = Path("/proc/self/fd")
    n = 0
    for fd in os.listdir(fds):
        with contextlib.suppress(OSError):  # (closed meanwhile: listdir's own)
            n += os.readlink(fds / fd) == str(path)
    return n


def test_a_stop_that_gives_up_on_its_thread_leaves_the_files_to_it(
    tmp_path: Path, positions: MemoryPositions, stats: RecordingStats
) -> None:
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\n")
    cfg = FileConfig(name="f", paths=(str(log),), start_at="beginning", poll_interval=0.02)
    c = FileCollector(cfg, positions, stats)
    c.STOP_JOIN_SECONDS = 0.2
    sink = StuckSink()
    c.start(sink)
    try:
        assert sink.entered.wait(10)
        c.stop()  # gives up after 0.2 s: the thread is in its send
        assert open_on(log) == 1  # not closed under the thread
    finally:
        sink.release.set()
    wait_for(lambda: open_on(log) == 0)  # closed by the thread as it ends
    assert sink.lines == ["one", "two"]


def test_a_stop_closes_the_files(
    tmp_path: Path, positions: MemoryPositions, stats: RecordingStats
) -> None:
    log = tmp_path / "app.log"
    log.write_text("one\n")
    c = FileCollector(
        FileConfig(name="f", paths=(str(log),), start_at="beginning"), positions, stats
    )
    sink = RecordingSink()
    c.start(sink)
    wait_for(lambda: sink.lines == ["one"])
    assert open_on(log) == 1
    c.stop()
    assert open_on(log) == 0
