"""The file collector following files: appended lines, globs, paths missing or unreadable (down,
then up again), a file matched twice through a link, polling without inotify."""

from __future__ import annotations

import os

import pytest

from tests.collectors.file_harness import Harness, append
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_appended_lines_arrive_and_a_partial_line_waits_for_its_newline(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["one", "two"])
    _, sink = h.start()
    wait_for(lambda: sink.lines == ["one", "two"])
    append(log, "thr")
    append(log, "ee\nfour\n")
    wait_for(lambda: sink.lines == ["one", "two", "three", "four"])
    assert all(e.source == "f" for e in sink.events)


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
