"""The file collector on real files: following, rotation matrix, positions, limits, multiline."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import alerter.collectors.tail
from alerter.collectors.file import FileCollector, FileConfig, MultilineConfig
from alerter.collectors.lines import lines_within as _lines_within
from alerter.collectors.parsers import ParserConfig
from alerter.collectors.tail import SavedPosition
from alerter.testing import MemoryPositions, RecordingSink, RecordingStats
from tests.collectors.conftest import others_read_to_end
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


class Harness:
    def __init__(self, tmp: Path, positions: MemoryPositions, stats: RecordingStats) -> None:
        self.tmp = tmp
        self.positions = positions
        self.stats = stats
        self.running: list[FileCollector] = []

    def start(
        self, sink: RecordingSink | None = None, **kw: object
    ) -> tuple[FileCollector, RecordingSink]:
        opts: dict[str, object] = {
            "name": "f",
            "paths": (str(self.tmp / "app.log"),),
            "start_at": "beginning",
            "poll_interval": 0.02,
            "rotate_wait": 1.0,
        }
        opts.update(kw)
        c = FileCollector(FileConfig(**opts), self.positions, self.stats)  # type: ignore[arg-type]
        s = sink or RecordingSink()
        c.start(s)
        self.running.append(c)
        return c, s

    def stop(self, c: FileCollector) -> None:
        c.stop()
        self.running.remove(c)


@pytest.fixture
def h(tmp_path: Path, positions: MemoryPositions, stats: RecordingStats) -> Iterator[Harness]:
    harness = Harness(tmp_path, positions, stats)
    yield harness
    for c in list(harness.running):
        c.stop()


def append(path: Path, lines: list[str] | str) -> None:
    with path.open("a") as f:
        f.write(lines if isinstance(lines, str) else "".join(x + "\n" for x in lines))


def numbered(prefix: str, n: int) -> list[str]:
    return [f"{prefix} {i}" for i in range(n)]


def received(sink: RecordingSink, expected: list[str]) -> bool:
    return sorted(sink.lines) == sorted(expected)


def test_appended_lines_arrive_and_a_partial_line_waits_for_its_newline(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["one", "two"])
    _, sink = h.start()
    wait_for(lambda: sink.lines == ["one", "two"])
    append(log, "thr")
    append(log, "ee\nfour\n")
    wait_for(lambda: sink.lines == ["one", "two", "three", "four"])
    assert all(e.source == "f" for e in sink.events)


def test_start_at_end_skips_existing_lines_on_first_run_only(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["old 1", "old 2"])
    c, sink = h.start(start_at="end")
    append(log, ["new 1"])
    wait_for(lambda: sink.lines == ["new 1"])
    h.stop(c)
    append(log, ["while stopped"])
    _, sink2 = h.start(start_at="end")
    wait_for(lambda: sink2.lines == ["while stopped"])


def test_rename_rotation_finishes_old_file_then_follows_new(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 100))
    _, sink = h.start()
    wait_for(lambda: len(sink.lines) == 100)
    writer = log.open("a")  # a writer that has not reopened yet keeps writing to the old file
    os.rename(log, h.tmp / "app.log.1")
    append(log, numbered("b", 100))
    writer.write("".join(x + "\n" for x in numbered("late", 5)))
    writer.close()
    expected = numbered("a", 100) + numbered("b", 100) + numbered("late", 5)
    wait_for(lambda: received(sink, expected))
    assert len(sink.lines) == 205


def test_files_beside_the_log_not_named_as_rotations_are_not_read_as_its_lost_lines(
    h: Harness,
) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 20))
    _, sink = h.start()
    wait_for(lambda: len(sink.lines) == 20)
    # an operator's extract, a backup, another program's log named after it: not rotations
    for name in ("app.log.sel", "app.log.bak", "app.log_last5", "app.log.writer.log"):
        append(h.tmp / name, numbered(name, 3))
    # two rotations between two looks: the first rotated file was never read, and is
    os.rename(log, h.tmp / "app.log-20261206")
    append(h.tmp / "app.log-20261206", numbered("unseen", 2))
    append(log, numbered("b", 2))
    os.rename(log, h.tmp / "app.log.1")
    append(log, numbered("c", 2))
    expected = numbered("a", 20) + numbered("unseen", 2) + numbered("b", 2) + numbered("c", 2)
    wait_for(lambda: received(sink, expected))
    append(log, ["last"])
    wait_for(lambda: sink.lines[-1:] == ["last"])
    assert sorted(sink.lines) == sorted([*expected, "last"])  # and nothing from the others


def test_a_rotated_file_written_to_after_it_was_closed_as_quiet_is_finished_later(
    h: Harness,
) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 5))
    with capture_logs() as logs:
        _, sink = h.start()
        wait_for(lambda: len(sink.lines) == 5)
        writer = log.open("a")  # a writer that never reopens its log
        os.rename(log, h.tmp / "app.log.1")
        append(log, numbered("b", 2))
        wait_for(lambda: any(e["event"] == "file_closed" for e in logs))  # quiet rotate_wait
        writer.write("".join(x + "\n" for x in numbered("late", 3)))
        writer.close()
        # the next rotation: the directory changes, and the file that grew is looked at again
        os.rename(h.tmp / "app.log.1", h.tmp / "app.log.2")
        os.rename(log, h.tmp / "app.log.1")
        append(log, numbered("c", 2))
        expected = numbered("a", 5) + numbered("b", 2) + numbered("late", 3) + numbered("c", 2)
        wait_for(lambda: received(sink, expected))


def test_copytruncate_restarts_at_zero(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 50))
    _, sink = h.start()
    wait_for(lambda: len(sink.lines) == 50)
    shutil.copy(log, h.tmp / "app.log.1")
    with log.open("r+") as f:
        f.truncate(0)
    append(log, numbered("b", 3))  # shorter than before: size < offset
    wait_for(lambda: received(sink, numbered("a", 50) + numbered("b", 3)))


def test_truncate_then_rewrite_longer_than_offset_is_detected_by_first_bytes(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["x"])
    c, sink = h.start()
    wait_for(lambda: sink.lines == ["x"])
    h.stop(c)  # while stopped, the file is truncated and rewritten past the old offset
    log.write_text("".join(x + "\n" for x in numbered("new", 10)))
    _, sink2 = h.start()
    wait_for(lambda: received(sink2, numbered("new", 10)))


def test_delete_and_recreate(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 10))
    _, sink = h.start()
    wait_for(lambda: len(sink.lines) == 10)
    log.unlink()
    wait_for(lambda: h.stats.ups.get("f") is False)
    append(log, numbered("b", 10))
    wait_for(lambda: received(sink, numbered("a", 10) + numbered("b", 10)))
    wait_for(lambda: h.stats.ups.get("f") is True)


def test_rotation_while_stopped_reads_the_rest_of_the_old_file_and_all_of_the_new(
    h: Harness,
) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 50))
    c, sink = h.start()
    wait_for(lambda: len(sink.lines) == 50)
    h.stop(c)
    append(log, numbered("tail", 7))
    os.rename(log, h.tmp / "app.log.1")
    append(log, numbered("b", 20))
    _, sink2 = h.start()
    wait_for(lambda: received(sink2, numbered("tail", 7) + numbered("b", 20)))
    # once the rotated file is finished, its position says so (kept: it stays known)
    wait_for(lambda: others_read_to_end(h.positions, log))


def test_a_link_re_pointed_while_stopped_finishes_its_old_file_first(h: Harness) -> None:
    (h.tmp / "releases").mkdir()
    old, new = h.tmp / "releases" / "one.log", h.tmp / "releases" / "two.log"
    append(old, numbered("a", 10))
    link = h.tmp / "app.log"
    link.symlink_to(old)
    c, sink = h.start()
    wait_for(lambda: len(sink.lines) == 10)
    h.stop(c)
    append(old, numbered("unread", 3))  # written after the last read, then the link moves on
    append(new, numbered("b", 2))
    (h.tmp / "app.log.tmp").symlink_to(new)
    os.replace(h.tmp / "app.log.tmp", link)
    _, sink2 = h.start()
    wait_for(lambda: received(sink2, numbered("unread", 3) + numbered("b", 2)))


def test_globs_pick_up_files_created_later(h: Harness) -> None:
    _, sink = h.start(paths=(str(h.tmp / "*.log"),))
    append(h.tmp / "one.log", ["1"])
    wait_for(lambda: sink.lines == ["1"])
    append(h.tmp / "two.log", ["2"])
    append(h.tmp / "ignored.txt", ["no"])
    wait_for(lambda: sorted(sink.lines) == ["1", "2"])
    assert h.stats.ups["f"] is True


def test_missing_file_sets_down_and_is_retried(h: Harness) -> None:
    _, sink = h.start()
    wait_for(lambda: h.stats.ups.get("f") is False)
    append(h.tmp / "app.log", ["hello"])
    wait_for(lambda: sink.lines == ["hello"])
    assert h.stats.ups["f"] is True


def test_a_path_that_cannot_be_read_sets_down_and_recovers(h: Harness) -> None:
    log = h.tmp / "app.log"
    log.mkdir()  # exists but cannot be read as a log (root can read any regular file)
    _, sink = h.start()
    wait_for(lambda: h.stats.ups.get("f") is False)
    log.rmdir()
    append(log, ["back"])
    wait_for(lambda: sink.lines == ["back"])
    assert h.stats.ups["f"] is True


def test_positions_advance_only_when_acked(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 5))
    c, sink = h.start(sink=RecordingSink(auto_ack=False))
    wait_for(lambda: len(sink.lines) == 5)
    h.stop(c)  # never acknowledged: a restart must deliver the lines again
    _, again = h.start()
    wait_for(lambda: again.lines == numbered("a", 5))

    def saved_offsets() -> list[int]:
        loaded = [SavedPosition.loads(v) for v in h.positions.load_positions("f").values()]
        return [p.offset for p in loaded if p is not None]

    wait_for(lambda: saved_offsets() == [log.stat().st_size])


def test_inode_with_other_first_bytes_is_a_new_file(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("new", 3))
    st = log.stat()
    stale = SavedPosition(str(log), st.st_dev, st.st_ino, 5, "0" * 40, 6)  # same inode, other file
    h.positions.save_positions("f", {stale.key: stale.dumps()})
    _, sink = h.start()
    wait_for(lambda: sink.lines == numbered("new", 3))


def test_long_lines_are_cut_and_counted(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["short", "é" * 100, "x" * 300, "after"])
    _, sink = h.start(max_line_bytes=64)
    wait_for(lambda: len(sink.lines) == 4)
    assert sink.lines[0] == "short" and sink.lines[3] == "after"
    assert sink.lines[1] == "é" * 32 and sink.lines[2] == "x" * 64
    assert h.stats.drops[("f", "too_long")] == 2
    append(log, "y" * 500)  # no newline yet: still cut once it exceeds the limit
    wait_for(lambda: len(sink.lines) == 5)
    append(log, "yyy\nlast\n")
    wait_for(lambda: sink.lines[-1] == "last")
    assert sink.lines[4] == "y" * 64 and h.stats.drops[("f", "too_long")] == 3


def test_a_block_of_plain_lines_arrives_with_its_text_and_lines_at_the_limit_are_whole(
    h: Harness,
) -> None:
    lines = [*numbered("line", 50), "a" * 64, "b" * 65, "é" * 32, "ü" * 33, ""]
    append(h.tmp / "app.log", lines)
    _, sink = h.start(max_line_bytes=64)
    wait_for(lambda: len(sink.lines) == len(lines))
    cut = ["b" * 64, "ü" * 32]  # 65 and 66 bytes: cut to 64
    assert sink.lines == [*lines[:51], cut[0], lines[52], cut[1], ""]
    assert sink.texts == [None]  # a line over the limit: the block goes line by line
    assert h.stats.drops[("f", "too_long")] == 2
    more = [*lines[:51], lines[52], "ü" * 32]  # 64 bytes at most
    append(h.tmp / "app.log", more)
    wait_for(lambda: len(sink.lines) == len(lines) + len(more))
    assert sink.texts[1] == "\n".join(more)  # the block as read
    assert sink.lines[len(lines) :] == more


def test_batches_read_behind_the_end_of_a_file_say_so(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`start_at: beginning` on a file of many blocks: every batch but the one that reaches
    its end is a backlog's (LogBatch.backlog); lines appended later are not."""
    monkeypatch.setattr(alerter.collectors.tail, "BLOCK_BYTES", 64)
    lines = numbered("line", 40)  # 310 bytes: 5 blocks of up to 64
    append(h.tmp / "app.log", lines)
    _, sink = h.start(max_line_bytes=63)  # (a block holds a line over the limit and one more byte)
    wait_for(lambda: len(sink.lines) == len(lines))
    assert sink.backlogs == [True] * 4 + [False]
    append(h.tmp / "app.log", ["new"])
    wait_for(lambda: sink.lines[-1:] == ["new"])
    assert sink.backlogs[-1] is False


@pytest.mark.parametrize(
    ("data", "limit", "within"),
    [
        (b"abc\n", 3, True),
        (b"abcd\n", 3, False),
        (b"ab\ncd\nef\n", 2, True),
        (b"ab\ncde\nf\n", 2, False),
        (b"a\n" * 100 + b"b" * 10 + b"\n", 10, True),
        (b"a\n" * 100 + b"b" * 11 + b"\n", 10, False),
        (b"\n\n", 1, True),
    ],
)
def test_lines_within_finds_any_line_over_the_limit(data: bytes, limit: int, within: bool) -> None:
    assert _lines_within(data, limit) is within
    assert within is (max(map(len, data.split(b"\n"))) <= limit)


def test_invalid_utf8_nul_and_crlf(h: Harness) -> None:
    (h.tmp / "app.log").write_bytes(b"bad \xff\xfe byte\nnul \x00 here\r\nok\n")
    _, sink = h.start()
    wait_for(lambda: len(sink.lines) == 3)
    assert sink.lines == ["bad \ufffd\ufffd byte", "nul \x00 here", "ok"]


def test_parse_errors_are_events_with_no_fields_counted_by_the_batch(h: Harness) -> None:
    append(h.tmp / "app.log", ["n=1", "junk", "n=2"])
    _, sink = h.start(parser=ParserConfig("regex", r"^n=(?P<n>\d+)$"))
    wait_for(lambda: len(sink.lines) == 3)
    assert [dict(e.fields) for e in sink.events] == [{"n": "1"}, {}, {"n": "2"}]  # type: ignore[union-attr]
    # the lines are parsed when the consumer looks at them (the sink looked at all three):
    # the batch counts their errors, the collector does not
    assert sink.parse_errors == 1 and ("f", "parse_error") not in h.stats.drops


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


def test_kill_9_at_any_moment_loses_no_line(tmp_path: Path) -> None:
    """SIGKILL the collector process twice while lines are being written; every line arrives,
    and the only repeats are the batches that were delivered but not yet acknowledged."""
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    log, out, state = tmp_path / "app.log", tmp_path / "out", tmp_path / "state"
    total = 60_000

    def child() -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-m", "tests.collectors.filechild", str(state), str(log), str(out)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "started"
        return p

    def delivered() -> list[int]:
        text = out.read_text() if out.exists() else ""
        return [int(x.split()[1]) for x in text.split("\n")[:-1] if x]

    written = 0

    def write(n: int) -> None:
        nonlocal written
        with log.open("a") as f:
            f.write("".join(f"line {i} {'x' * 80}\n" for i in range(written, written + n)))
        written += n

    write(20_000)
    runs: list[int] = []  # index into delivered() where each run started
    for _ in range(2):
        runs.append(len(delivered()))
        p = child()
        target = len(delivered()) + 5_000
        wait_for(lambda t=target: len(delivered()) >= t)  # type: ignore[misc]
        write(10_000)
        p.send_signal(signal.SIGKILL)
        p.wait()
    runs.append(len(delivered()))
    p = child()
    write(total - written)
    try:
        wait_for(lambda: delivered() and delivered()[-1] == total - 1, timeout=30)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    got = delivered()
    assert set(got) == set(range(total)), "a line was lost"
    repeats = 0
    for start, end in zip(runs, [*runs[1:], len(got)], strict=True):
        part = got[start:end]
        assert part == sorted(set(part)), "lines out of order or repeated within one run"
        if start:
            assert part[0] <= got[start - 1] + 1, "a gap between runs"
            repeats += got[start - 1] + 1 - part[0]
    assert len(got) == total + repeats


def test_truncated_and_rewritten_past_the_offset_while_running(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["short"])
    _, sink = h.start()
    wait_for(lambda: sink.lines == ["short"])
    # truncated and written again beyond the old offset before the next poll sees the change
    with log.open("r+") as f:
        f.truncate(0)
        f.seek(0)
        f.write("".join(x + "\n" for x in numbered("rewritten", 5)))
    wait_for(lambda: sink.lines == ["short", *numbered("rewritten", 5)])


def test_a_file_matched_twice_through_a_link_is_read_once(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["once"])
    os.symlink(log, h.tmp / "link.log")
    _, sink = h.start(paths=(str(h.tmp / "*.log"),))
    wait_for(lambda: sink.lines == ["once"])
    append(log, ["twice?"])
    wait_for(lambda: sink.lines == ["once", "twice?"])


def test_without_inotify_polling_alone_follows_files(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alerter.collectors.file

    class NoInotify:
        available = False

        def close(self) -> None:
            pass

    monkeypatch.setattr(alerter.collectors.file, "ChangeWaiter", NoInotify)
    log = h.tmp / "app.log"
    _, sink = h.start()
    append(log, ["polled"])
    wait_for(lambda: sink.lines == ["polled"])


def test_multiline_start_runs_in_linear_time_on_hostile_lines() -> None:
    """`(a+)+$` as multiline.start took 18-38 s on one 29-byte line in Python's `re` (holding
    the GIL, so the whole daemon stalled); 41 bytes would take hours. It runs in RE2 now: this
    returns at once (a regression hangs until pytest-timeout fails it)."""
    from alerter.collectors.multiline import Joiner

    joiner = Joiner(MultilineConfig(start=r"(a+)+$"), max_bytes=65536)
    hostile = b"a" * 40 + b"!"
    joined = joiner.feed("k", [b"aaaa", hostile, b"aaa"], 0, 50, 0.0)
    assert joined.events == ["aaaa\n" + hostile.decode()]  # "aaa" starts the next event
