"""FileTailer: whole lines only, in any block size, whatever bytes and however they are appended."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import alerter.collectors.tail
from alerter.collectors.tail import FileTailer, SavedPosition


def drain(t: FileTailer, limit: int) -> list[tuple[bytes, bool]]:
    out = []
    while (chunk := t.read(limit)) is not None:
        out.append((chunk.data, chunk.cut))
    return out


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=40), max_size=12),
    block=st.integers(1, 64),
)
def test_appended_bytes_come_back_as_whole_lines(pieces: list[bytes], block: int) -> None:
    limit = 1000  # no line is cut here
    old = alerter.collectors.tail.BLOCK_BYTES
    alerter.collectors.tail.BLOCK_BYTES = block
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "f.log")
            open(path, "wb").close()
            t = FileTailer.open(path)
            got = b""
            written = b""
            for piece in pieces:
                with open(path, "ab") as f:
                    f.write(piece)
                written += piece
                for data, cut in drain(t, limit):
                    assert not cut and data.endswith(b"\n")
                    got += data
                assert got == written[: written.rfind(b"\n") + 1]
                assert t.offset == len(got)
            t.close()
    finally:
        alerter.collectors.tail.BLOCK_BYTES = old


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=8))
def test_long_lines_are_cut_to_the_limit_and_the_rest_skipped(lines: list[bytes]) -> None:
    limit = 10
    old = alerter.collectors.tail.BLOCK_BYTES
    alerter.collectors.tail.BLOCK_BYTES = (
        1  # blocks of limit + 1 bytes: every long line is cut here
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "f.log")
            with open(path, "wb") as f:
                f.write(b"".join(x + b"\n" for x in lines))
            t = FileTailer.open(path)
            got: list[bytes] = []
            for data, cut in drain(t, limit):
                got.extend([data] if cut else data.split(b"\n")[:-1])
            assert t.offset == os.path.getsize(path)
            t.close()
    finally:
        alerter.collectors.tail.BLOCK_BYTES = old
    assert got == [x if len(x) <= limit else x[:limit] for x in lines]


def test_seek_end_starts_after_the_last_newline(tmp_path: Path) -> None:
    path = os.path.join(str(tmp_path), "f.log")
    with open(path, "wb") as f:
        f.write(b"old\npartial")
    t = FileTailer.open(path)
    t.seek_end()
    with open(path, "ab") as f:
        f.write(b" line\nnew\n")
    assert drain(t, 100) == [(b"partial line\nnew\n", False)]
    t.close()


def test_a_read_that_stops_short_of_the_end_says_more_is_waiting(tmp_path: Path) -> None:
    """Whole blocks of a file longer than one (a backlog) say more is waiting; the block that
    reaches the file's end, and what is appended after, do not."""
    old = alerter.collectors.tail.BLOCK_BYTES
    alerter.collectors.tail.BLOCK_BYTES = 8
    try:
        path = tmp_path / "f.log"
        path.write_bytes(b"aaa\nbbb\nccc\nddd\ne\n")
        t = FileTailer.open(str(path))
        chunks = []
        while (chunk := t.read(4)) is not None:
            chunks.append((chunk.data, chunk.more))
        assert chunks == [(b"aaa\nbbb\n", True), (b"ccc\nddd\n", True), (b"e\n", False)]
        with open(path, "ab") as f:
            f.write(b"new\n")
        chunk = t.read(4)
        assert chunk is not None and (chunk.data, chunk.more) == (b"new\n", False)
        t.close()
    finally:
        alerter.collectors.tail.BLOCK_BYTES = old


def test_saved_position_round_trip_and_garbage() -> None:
    p = SavedPosition("/var/log/x", 1, 2, 3, "ab", 4)
    assert SavedPosition.loads(p.dumps()) == p and p.key == "1:2"
    assert SavedPosition.loads("{") is None and SavedPosition.loads('{"path": 1}') is None
