"""One followed file: its identity, its read offset, and reading whole lines in large blocks.

Identity is device + inode + the first bytes (a hash of up to FINGERPRINT_BYTES of them is
persisted), so a new file that reuses a deleted file's inode is not mistaken for it. A position
also carries a hash of the bytes just before its offset and the file's size when it was taken:
the first tells a file truncated and rewritten past the offset from the file that was read, and
lets a copy (copytruncate) be recognised as holding the bytes that were read; the second is how
much was known to be unread. The offset always sits at the start of a line: a partial last line
is read again on the next poll, and is never emitted until its newline is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

FINGERPRINT_BYTES = 256
BLOCK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class SavedPosition:
    """What the state store keeps per file, under the key `dev:ino`."""

    path: str
    dev: int
    ino: int
    fplen: int  # the first fplen bytes of the file hash to fp
    fp: str
    offset: int
    size: int = -1  # the file's size when the position was taken (-1: not known)
    tlen: int = 0  # the tlen bytes before offset hash to tfp (0: not checked)
    tfp: str = ""
    # Wall time the file was last seen at `path` before this position was taken (-1: not
    # known): a sibling rotated after it, of unknown identity, holds lines never read.
    at: float = -1.0
    # where the file was when `path` is a symlink to it ("" otherwise): a link re-pointed
    # while alerter was stopped leaves the file there, with its unread lines
    real: str = ""

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"

    @property
    def unread(self) -> int:
        """Bytes known to exist past the offset when the position was taken."""
        return max(0, self.size - self.offset)

    def dumps(self) -> str:
        return json.dumps(
            {
                "path": self.path,
                "dev": self.dev,
                "ino": self.ino,
                "fplen": self.fplen,
                "fp": self.fp,
                "offset": self.offset,
                "size": self.size,
                "tlen": self.tlen,
                "tfp": self.tfp,
                "at": self.at,
                **({"real": self.real} if self.real else {}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> SavedPosition | None:
        try:
            d = json.loads(text)
            return cls(
                str(d["path"]),
                int(d["dev"]),
                int(d["ino"]),
                int(d["fplen"]),
                str(d["fp"]),
                int(d["offset"]),
                int(d.get("size", -1)),  # positions saved before these fields existed
                int(d.get("tlen", 0)),
                str(d.get("tfp", "")),
                float(d.get("at", -1.0)),
                str(d.get("real", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def content_digest(data: bytes) -> str:
    """What identifies a file by its first (or last) bytes; not an alert's fingerprint."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class Chunk:
    """Complete lines read from one file: `data` ends with a newline (or is a cut long line)."""

    data: bytes
    start: int  # byte offset of data[0]
    end: int  # offset after the chunk: where reading resumes
    cut: bool = False  # data is the first max_line_bytes of an over-long line, without newline
    # the read stopped short of the file's end: more was waiting (a backlog, not live lines)
    more: bool = False


@dataclass(slots=True)
class Generations:
    """Which file took over a truncated file's earlier contents: its copy, or None (lost).

    A batch read before a truncation is acknowledged after it; its position then belongs to the
    copy (same offsets, other inode), or to nothing."""

    current: int = 0
    successors: dict[int, FileTailer | None] = field(default_factory=dict)

    KEEP = 16  # acks older than this many truncations are not waited for

    def advance(self, successor: FileTailer | None) -> None:
        self.successors[self.current] = successor
        self.successors.pop(self.current - self.KEEP, None)
        self.current += 1


def _link_target(path: str) -> str:
    """The file `path` names when it is (or lies under) a symlink, else ""."""
    real = os.path.realpath(path)
    return real if real != os.path.abspath(path) else ""


class FileTailer:
    """Reads one open file from an offset. Not thread-safe: used by its collector's thread only;
    `acked` is written by the engine thread (a single int store) and only read here."""

    def __init__(self, path: str, fd: int, st: os.stat_result, offset: int) -> None:
        self.path = path
        self.fd = fd
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.offset = offset
        self.acked = offset
        self.size = st.st_size
        self.skipping = False  # inside an over-long line whose head was already emitted
        self.draining_since: float | None = None  # rotated away / deleted: finish, then close
        self.last_data = 0.0
        self.seen_at = time.time()  # last seen at `path` (set by the collector's scans)
        self.generations = Generations()
        self.real = _link_target(path)
        self.head = b""
        self._head_fp = ""
        self._set_head(os.pread(fd, FINGERPRINT_BYTES, 0))
        self.before = b""  # up to FINGERPRINT_BYTES bytes that end at offset
        if offset:
            self.set_offset(offset)

    @classmethod
    def open(cls, path: str) -> FileTailer:
        """Open `path` for reading at offset 0 (raises OSError)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            return cls(path, fd, os.fstat(fd), 0)
        except OSError:
            os.close(fd)
            raise

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"

    def _set_head(self, head: bytes) -> None:
        self.head = head
        self._head_fp = content_digest(head)

    def position(self, offset: int, size: int | None = None) -> SavedPosition:
        """The position to save for `offset`; it carries the bytes before it when they are the
        ones last read (a multiline event's start is further back: no check then)."""
        tail = self.before if offset == self.offset else b""
        size = self.size if size is None else size
        return SavedPosition(
            self.path,
            self.dev,
            self.ino,
            len(self.head),
            self._head_fp,
            offset,
            max(size, offset),
            len(tail),
            content_digest(tail) if tail else "",
            self.seen_at,
            self.real,
        )

    def holds(self, saved: SavedPosition) -> bool:
        """Does this file hold what `saved` was taken from, whatever its inode: the same first
        bytes and, if it reaches that far, the same bytes before the saved offset?"""
        if len(self.head) < saved.fplen:
            return False
        fp = (
            self._head_fp
            if saved.fplen == len(self.head)
            else content_digest(self.head[: saved.fplen])
        )
        if fp != saved.fp:
            return False
        if saved.tlen and self.size >= saved.offset:
            before = os.pread(self.fd, saved.tlen, saved.offset - saved.tlen)
            return content_digest(before) == saved.tfp
        return True

    def matches(self, saved: SavedPosition) -> bool:
        """Is this the file `saved` was taken from (same inode and the same first bytes)?"""
        return (saved.dev, saved.ino) == (self.dev, self.ino) and self.holds(saved)

    def resumes(self, saved: SavedPosition) -> bool:
        """Can reading go on at `saved.offset`: the same file, not truncated below it?"""
        return saved.offset <= self.size and self.matches(saved)

    def set_offset(self, offset: int) -> None:
        """Read from `offset` on (a line start), everything before it taken as acknowledged."""
        self.offset = self.acked = offset
        n = min(offset, FINGERPRINT_BYTES)
        self.before = os.pread(self.fd, n, offset - n) if n else b""

    def seek_end(self) -> None:
        """Start at the end: after the last newline, so a line being written is read whole."""
        size = os.fstat(self.fd).st_size
        tail_start = max(0, size - 65536)
        tail = os.pread(self.fd, size - tail_start, tail_start)
        nl = tail.rfind(b"\n")
        if nl >= 0:
            self.set_offset(tail_start + nl + 1)
        else:  # one partial line: a short one is read when finished, a huge one is skipped
            self.set_offset(0 if tail_start == 0 else size)

    def check_truncated(self) -> SavedPosition | None:
        """Has the file shrunk below our offset or have its first bytes changed (copytruncate,
        `> file`)? Then the position that no longer holds (with the size last seen before), to
        look for a copy with; the caller then calls `restart`."""
        st = os.fstat(self.fd)
        last_size = self.size
        if st.st_size == last_size:
            return None
        self.size = st.st_size
        if st.st_size < self.offset:
            return self.position(self.offset, last_size)
        # Truncated and rewritten past our offset between two polls: the first bytes differ.
        head = os.pread(self.fd, FINGERPRINT_BYTES, 0)
        if head[: len(self.head)] != self.head:
            return self.position(self.offset, last_size)
        if len(head) > len(self.head):
            self._set_head(head)
        return None

    def restart(self, successor: FileTailer | None) -> None:
        """Read the truncated file again from 0; acks of what was read before go to
        `successor` (the copy of the earlier contents), or nowhere."""
        self.generations.advance(successor)
        self.offset = self.acked = 0
        self.skipping = False
        self.before = b""
        self._set_head(os.pread(self.fd, FINGERPRINT_BYTES, 0))

    def _passed(self, data: bytes, end: int) -> None:
        """The offset moved over data[:end]: remember the last bytes before it."""
        if end >= FINGERPRINT_BYTES:
            self.before = data[end - FINGERPRINT_BYTES : end]
        else:
            self.before = (self.before + data[:end])[-FINGERPRINT_BYTES:]

    def read(self, max_line_bytes: int) -> Chunk | None:
        """The next block of complete lines, or None at EOF / before a partial line."""
        want = max(BLOCK_BYTES, max_line_bytes + 1)
        while True:
            data = os.pread(self.fd, want, self.offset)
            if not data:
                return None
            if self.skipping:
                i = data.find(b"\n")
                if i < 0:
                    self.offset += len(data)
                    self._passed(data, len(data))
                    continue
                self.offset += i + 1
                self._passed(data, i + 1)
                self.skipping = False
                continue
            nl = data.rfind(b"\n")
            if nl < 0:
                if len(data) > max_line_bytes:
                    start = self.offset
                    self.offset += len(data)
                    self._passed(data, len(data))
                    self.skipping = True
                    more = len(data) == want
                    return Chunk(data[:max_line_bytes], start, self.offset, cut=True, more=more)
                return None
            start = self.offset
            self.offset += nl + 1
            self._passed(data, nl + 1)
            # a whole block read: the file goes on past it (a block that ends exactly at the
            # file's end is taken for more, once)
            return Chunk(data[: nl + 1], start, self.offset, more=len(data) == want)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
