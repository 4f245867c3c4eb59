"""The file collector's multiline events: continuations joined, flushed on timeout, capped at
max_line_bytes, an open one read again after a restart, a hostile start pattern in linear time."""

from __future__ import annotations

import pytest

from alerter.collectors.file import MultilineConfig
from tests.collectors.file_harness import Harness, append
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_multiline_joins_continuations_and_flushes_on_timeout(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["ERROR boom", "  at a()", "  at b()", "INFO fine", "  detail"])
    c, sink = h.start(multiline=MultilineConfig(start=r"^\S", timeout=0.2))
    wait_for(lambda: sink.lines == ["ERROR boom\n  at a()\n  at b()", "INFO fine\n  detail"])
    h.stop(c)
    # the last event was flushed by the timeout and acked: a restart does not repeat it
    append(log, ["NEXT one"])
    _, sink2 = h.start(multiline=MultilineConfig(start=r"^\S", timeout=0.2))
    wait_for(lambda: sink2.lines == ["NEXT one"])


def test_multiline_event_is_capped_at_max_line_bytes(h: Harness) -> None:
    """A start line followed by continuation lines without end (the issue-11 input: one event
    grew to 270 MB) stays one event of at most max_line_bytes, counted once as too_long; the
    next event is whole."""
    log = h.tmp / "app.log"
    append(log, ["ERROR start", *(["  " + "x" * 998] * 5000), "INFO next", "  more"])
    _, sink = h.start(
        multiline=MultilineConfig(start=r"^\S", timeout=0.2, max_lines=100_000),
        max_line_bytes=4096,
    )
    wait_for(lambda: len(sink.lines) == 2)
    first, second = sink.lines
    assert first.startswith("ERROR start\n  xxx") and len(first.encode()) <= 4096
    assert second == "INFO next\n  more"
    assert h.stats.drops[("f", "too_long")] == 1


def test_multiline_open_event_is_reread_after_restart(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["A", " a1", "B", " b1"])
    c, sink = h.start(multiline=MultilineConfig(start=r"^\S", timeout=60))
    wait_for(lambda: sink.lines == ["A\n a1"])
    h.stop(c)  # "B b1" was still open: its position was not saved past its start
    append(log, [" b2", "C"])
    _, sink2 = h.start(multiline=MultilineConfig(start=r"^\S", timeout=60))
    wait_for(lambda: sink2.lines == ["B\n b1\n b2"])


def test_multiline_start_runs_in_linear_time_on_hostile_lines() -> None:
    """`(a+)+$` as multiline.start took 18-38 s on one 29-byte line in Python's `re` (holding
    the GIL, so the whole daemon stalled); 41 bytes would take hours. It runs in RE2 now: this
    returns at once (a regression hangs until pytest-timeout fails it)."""
    from alerter.collectors.multiline import Joiner

    joiner = Joiner(MultilineConfig(start=r"(a+)+$"), max_bytes=65536)
    hostile = b"a" * 40 + b"!"
    joined = joiner.feed("k", [b"aaaa", hostile, b"aaa"], 0, 50, 0.0)
    assert joined.events == ["aaaa\n" + hostile.decode()]  # "aaa" starts the next event
