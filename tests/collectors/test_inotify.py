"""inotify wake-up hints: a change to a watched file or directory ends the wait."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alerter.collectors.inotify import ChangeWaiter


@pytest.fixture
def waiter() -> ChangeWaiter:
    w = ChangeWaiter()
    assert w.available, "inotify is available on Linux"
    return w


def test_a_write_to_a_watched_file_wakes_the_waiter(tmp_path: Path, waiter: ChangeWaiter) -> None:
    f = tmp_path / "a.log"
    f.write_text("")
    fd = os.open(f, os.O_RDONLY)
    try:
        waiter.sync({"k": fd}, [])
        assert waiter.wait(0.01) is False  # nothing happened yet
        with f.open("a") as out:
            out.write("x\n")
        assert waiter.wait(10) is True
        assert waiter.wait(0.01) is False  # the events were consumed
        os.rename(f, tmp_path / "b.log")  # still watched by inode after a rename
        with (tmp_path / "b.log").open("a") as out:
            out.write("y\n")
        assert waiter.wait(10) is True
    finally:
        os.close(fd)
        waiter.close()


def test_a_file_created_in_a_watched_directory_wakes_the_waiter(
    tmp_path: Path, waiter: ChangeWaiter
) -> None:
    waiter.sync({}, [str(tmp_path)])
    (tmp_path / "new.log").write_text("")
    assert waiter.wait(10) is True
    waiter.sync({}, [])  # unwatched: changes no longer wake it
    waiter.wait(0.01)  # (removing a watch queues one last event)
    (tmp_path / "other.log").write_text("")
    assert waiter.wait(0.05) is False
    waiter.close()
