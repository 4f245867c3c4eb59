"""One followed file: its identity, its read offset, and reading whole lines in large blocks.

Identity is device + inode + the first bytes (a hash of up to FINGERPRINT_BYTES of them is
persisted), so a new file that reuses a deleted file's inode is not mistaken for it. The offset
always sits at the start of a line: a partial last line is read again on the next poll, and is
never emitted until its newline is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

FINGERPRINT_BYTES = 256
BLOCK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class SavedPosition:
    """What the state store keeps per file, under the key `dev:ino`."""

    path: str
    dev: int
    ino: int
    fplen: int
    fp: str
    offset: int

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"

    def dumps(self) -> str:
        return json.dumps(
            {
                "path": self.path,
                "dev": self.dev,
                "ino": self.ino,
                "fplen": self.fplen,
                "fp": self.fp,
                "offset": self.offset,
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
            )
        except (ValueError, KeyError, TypeError):
            return None


def _digest(head: bytes) -> str:
    return hashlib.sha1(head, usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class Chunk:
    """Complete lines read from one file: `data` ends with a newline (or is a cut long line)."""

    data: bytes
    start: int  # byte offset of data[0]
    end: int  # offset after the chunk: where reading resumes
    cut: bool = False  # data is the first max_line_bytes of an over-long line, without newline


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
        self.head = os.pread(fd, FINGERPRINT_BYTES, 0)

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

    def position(self, offset: int) -> SavedPosition:
        return SavedPosition(
            self.path, self.dev, self.ino, len(self.head), _digest(self.head), offset
        )

    def matches(self, saved: SavedPosition) -> bool:
        """Is this the file `saved` was taken from (same inode and the same first bytes)?"""
        if (saved.dev, saved.ino) != (self.dev, self.ino) or len(self.head) < saved.fplen:
            return False
        return _digest(self.head[: saved.fplen]) == saved.fp

    def seek_end(self) -> None:
        """Start at the end: after the last newline, so a line being written is read whole."""
        size = os.fstat(self.fd).st_size
        tail_start = max(0, size - 65536)
        tail = os.pread(self.fd, size - tail_start, tail_start)
        nl = tail.rfind(b"\n")
        if nl >= 0:
            self.offset = tail_start + nl + 1
        else:  # one partial line: a short one is read when finished, a huge one is skipped
            self.offset = 0 if tail_start == 0 else size
        self.acked = self.offset

    def check_truncated(self) -> bool:
        """Reset to 0 when the file shrank below our offset or its first bytes changed
        (copytruncate, `> file`). Returns whether it did."""
        st = os.fstat(self.fd)
        grew_or_shrank = st.st_size != self.size
        self.size = st.st_size
        if not grew_or_shrank:
            return False
        if st.st_size < self.offset:
            self._restart()
            return True
        # Truncated and rewritten past our offset between two polls: the first bytes differ.
        head = os.pread(self.fd, FINGERPRINT_BYTES, 0)
        if head[: len(self.head)] != self.head:
            self._restart()
            return True
        self.head = head
        return False

    def _restart(self) -> None:
        self.offset = 0
        self.skipping = False
        self.head = os.pread(self.fd, FINGERPRINT_BYTES, 0)

    def read(self, max_line_bytes: int) -> Chunk | None:
        """The next block of complete lines, or None at EOF / before a partial line."""
        while True:
            data = os.pread(self.fd, max(BLOCK_BYTES, max_line_bytes + 1), self.offset)
            if not data:
                return None
            if self.skipping:
                i = data.find(b"\n")
                if i < 0:
                    self.offset += len(data)
                    continue
                self.offset += i + 1
                self.skipping = False
                continue
            nl = data.rfind(b"\n")
            if nl < 0:
                if len(data) > max_line_bytes:
                    start = self.offset
                    self.offset += len(data)
                    self.skipping = True
                    return Chunk(data[:max_line_bytes], start, self.offset, cut=True)
                return None
            start = self.offset
            self.offset += nl + 1
            return Chunk(data[: nl + 1], start, self.offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
