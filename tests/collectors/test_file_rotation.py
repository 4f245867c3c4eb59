"""The file collector through rotations: rename, delete and re-create, copytruncate and
truncation (running or stopped), rotations while stopped, a link re-pointed, files beside the log
that are not rotations."""

from __future__ import annotations

import os
import shutil

import pytest
from structlog.testing import capture_logs

from tests.collectors.conftest import others_read_to_end
from tests.collectors.file_harness import Harness, append, numbered, received
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


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
