"""Which sibling is a truncated file's copy, how lost lines are estimated, and positions that
carry the bytes before their offset."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from alerter.collectors.rotated import copy_candidates, estimate_lines, find_copy
from alerter.collectors.tail import FileTailer, SavedPosition


def touch(path: Path, data: bytes, mtime: float) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_candidates_are_uncompressed_siblings_named_after_the_file_newest_first(
    tmp_path: Path,
) -> None:
    for i, name in enumerate(
        [
            "app.log.2",
            "app.log-20240101",
            "app.log.1",
            "app.log.1.gz",
            "app.log.3.XZ",
            "app.log-20240102.zst",
            "app.logger",  # another file whose name merely starts the same
            "app.log",
            "other.log.1",
        ]
    ):
        touch(tmp_path / name, b"x\n", 1_000_000 + i)
    (tmp_path / "app.log.dir").mkdir()
    os.symlink(tmp_path / "app.log.2", tmp_path / "app.log.link")
    found = [os.path.basename(p) for p in copy_candidates(str(tmp_path / "app.log"))]
    assert found == ["app.log.1", "app.log-20240101", "app.log.2"]


def test_the_copy_is_the_sibling_holding_the_bytes_read(tmp_path: Path) -> None:
    read = b"".join(b"line %03d\n" % i for i in range(40))
    log = tmp_path / "app.log"
    log.write_bytes(read)
    t = FileTailer.open(str(log))
    while t.read(1000) is not None:
        pass
    was = t.position(t.offset)
    t.close()
    # The newest sibling starts the same but differs before the offset: not the copy.
    touch(tmp_path / "app.log.2", read[:-9] + b"other 99\n" + b"more\n", 3_000_000)
    touch(tmp_path / "app.log.1", read + b"unread\n", 2_000_000)
    copy = find_copy(was)
    assert copy is not None and copy.path == str(tmp_path / "app.log.1")
    copy.close()
    (tmp_path / "app.log.1").unlink()
    assert find_copy(was) is None


@pytest.mark.parametrize(
    ("unread", "head", "before", "expected"),
    [
        (0, b"a\n", b"", 0),
        (300, b"0123456789\n" * 30, b"", 27),  # 300 / 11 = 27.3
        (110, b"0123456789\n" * 5 + b"01234", b"89\n" + b"0123456789\n" * 2, 10),
        (5000, b"no newline in the first bytes", b"", 1),
        (5000, b"", b"", 1),
    ],
)
def test_lost_lines_are_estimated_from_the_whole_lines_known(
    unread: int, head: bytes, before: bytes, expected: int
) -> None:
    assert estimate_lines(unread, head, before) == expected


def test_a_position_saved_before_size_and_tail_existed_still_loads() -> None:
    old = '{"path":"/var/log/x","dev":1,"ino":2,"fplen":3,"fp":"ab","offset":4}'
    assert SavedPosition.loads(old) == SavedPosition("/var/log/x", 1, 2, 3, "ab", 4)
    p = SavedPosition("/var/log/x", 1, 2, 3, "ab", 4, 10, 4, "cd")
    assert SavedPosition.loads(p.dumps()) == p and p.unread == 6


def test_a_file_rewritten_with_the_same_first_bytes_does_not_resume(tmp_path: Path) -> None:
    header = b"# the same banner every time\n" * 12  # longer than the fingerprinted head
    log = tmp_path / "app.log"
    log.write_bytes(header + b"first\n")
    t = FileTailer.open(str(log))
    assert t.read(1000) is not None
    saved = t.position(t.offset)
    t.close()
    log.write_bytes(header + b"other\nlonger\n")  # other bytes before the offset
    again = FileTailer.open(str(log))
    assert not again.resumes(saved)
    assert again.resumes(replace(saved, tlen=0, tfp=""))  # the first bytes alone cannot tell
    again.close()
    log.write_bytes(header + b"first\nmore\n")
    same = FileTailer.open(str(log))
    assert same.resumes(saved)
    same.close()
