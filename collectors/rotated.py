"""Where a followed file's unread lines went when it was rotated: renamed (found by inode) or
copied before a truncation (copytruncate: found by content).

The copy of a truncated `DIR/NAME` is looked for among its siblings in DIR whose name is NAME
followed by `.`, `-` or `_` and more (`app.log.1`, `app.log-20240101`, `app.log_old`): regular
files, not symlinks, not compressed (`.gz .xz .zst .bz2 .lz4 .lzma .Z .zip .br`, which cannot be
read from an offset), newest modification time first. The first whose first bytes and whose
bytes just before the collector's offset are those the collector read from the original is the
copy. Copies written to another directory (logrotate's `olddir`) or renamed around an
extension (`extension`) are not found.

Rotated files nobody read. A file can be rotated away before the collector read any of it: it
was created and rotated again while alerter was down or between two of its looks (two rotations
in a row), or copied and truncated before the collector saw its size. Every sibling named as
logrotate names a rotated file (NAME then `.`, `-` or `_` and a number or a date in digits:
ROTATED_NAME; not `app.log.bak`, `app.log.errors`) written (mtime) after the time the collector
last saw the file at its path (`SavedPosition.at`, and at run time each followed file's
`seen_at`) whose identity the collector does not know is read from its beginning, oldest
first. Files read to their end stay known (their positions are kept for the newest TOMBSTONES
of them), so logrotate's renumbering (`app.log.1` -> `app.log.2`) does not make them read
again.

A copy compressed already (logrotate's `compress` without `delaycompress`, when the collector
lagged) is not read; a gzip one (`.gz`, starting with the bytes read) still tells how long the
file was, so the lines lost can be counted beyond what the collector last saw.
"""

from __future__ import annotations

import gzip
import os
import re
import time
import zlib
from dataclasses import dataclass

from alerter.collectors.tail import FileTailer, SavedPosition, content_digest

COMPRESSED = (".gz", ".xz", ".zst", ".bz2", ".lz4", ".lzma", ".z", ".zip", ".br")
SEPARATORS = (".", "-", "_")
# what logrotate (and its dateext/dateformat) puts after a rotated file's name: a number or a
# date/time in digits (`.1`, `-20240101`, `-2024-01-01-13`, `.1700000000`), nothing else, so
# that `app.log.bak` or `app.log.errors` beside the log are not read as its lost lines
ROTATED_NAME = re.compile(r"[.\-_][0-9][0-9.\-_:T]*\Z")
CLOCK_SLACK = 0.05  # seconds: file times lag time.time() by up to one kernel tick


def _same_inode(pos: SavedPosition) -> list[str]:
    """Paths of regular files with the inode number of `pos`, in its directory (and, read
    through a symlink, in its file's)."""
    found = []
    dirs = dict.fromkeys(os.path.dirname(p) or "." for p in (pos.path, pos.real) if p)
    for directory in dirs:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.inode() == pos.ino and entry.is_file(follow_symlinks=False):
                    found.append(entry.path)
            except OSError:
                continue
    return found


def find_renamed(pos: SavedPosition) -> FileTailer | None:
    """The file `pos` was taken from, if it was renamed within its directory while we were
    stopped and still has unread lines."""
    for path in _same_inode(pos):
        try:
            t = FileTailer.open(path)
        except OSError:
            continue
        if t.matches(pos) and t.size > pos.offset:
            return t
        t.close()
    return None


def inode_exists(pos: SavedPosition) -> bool:
    """Is the file of `pos` (its device and inode) still in its directory?"""
    for path in _same_inode(pos):
        try:
            if os.stat(path, follow_symlinks=False).st_dev == pos.dev:
                return True
        except OSError:
            continue
    return False


def _siblings(path: str, compressed: bool) -> list[tuple[float, str]]:
    """(mtime, path) of the siblings of `path` a copy of it may be (see the module docstring),
    compressed ones or not, newest first."""
    directory, name = os.path.split(path)
    found: list[tuple[float, str]] = []
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return []
    for entry in entries:
        rest = entry.name[len(name) :]
        if (
            not entry.name.startswith(name)
            or not rest.startswith(SEPARATORS)
            or entry.name.lower().endswith(COMPRESSED) != compressed
            or (compressed and not entry.name.endswith(".gz"))
        ):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                found.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
        except OSError:
            continue
    return sorted(found, reverse=True)


def copy_candidates(path: str, compressed: bool = False) -> list[str]:
    """The siblings of `path` a copy of it may be, newest first (see the module docstring);
    with `compressed`, the gzip ones instead."""
    return [p for _, p in _siblings(path, compressed)]


def rotated_since(path: str, since: float) -> list[str]:
    """The uncompressed siblings of `path` written after `since` (their mtime), oldest first:
    where lines went that a collector which last saw `path` at `since` may never have read.
    (Not ctime: logrotate's renumbering renames old files, which changes their ctime only.)"""
    now = time.time()
    # A time in the future (set by hand) tells nothing; file times come from the kernel's
    # coarse clock, up to a tick behind time.time(): CLOCK_SLACK makes up for it.
    name = os.path.basename(path)
    return [
        p
        for mtime, p in reversed(_siblings(path, compressed=False))
        if since - CLOCK_SLACK < mtime <= now + 1.0
        and ROTATED_NAME.match(os.path.basename(p)[len(name) :])
    ]


def find_copy(was: SavedPosition) -> FileTailer | None:
    """The copy of the file `was` was taken from, opened, or None. The file itself (same
    inode: truncated, not copied) is not its own copy."""
    for path in copy_candidates(was.path):
        try:
            t = FileTailer.open(path)
        except OSError:
            continue
        if (t.dev, t.ino) != (was.dev, was.ino) and t.holds(was):
            return t
        t.close()
    return None


def gzip_copy_size(was: SavedPosition) -> tuple[str, int] | None:
    """A gzip copy of the file `was` was taken from (it starts with the same bytes) and the
    size of the file it holds (gzip's trailer: exact below 4 GiB), or None."""
    for path in copy_candidates(was.path, compressed=True):
        try:
            with gzip.open(path, "rb") as z:
                head = z.read(was.fplen)
            with open(path, "rb") as raw:
                raw.seek(-4, os.SEEK_END)
                size = int.from_bytes(raw.read(4), "little")
        except (OSError, EOFError, zlib.error):
            continue
        if was.fplen and len(head) == was.fplen and content_digest(head) == was.fp:
            return path, size
    return None


@dataclass(frozen=True, slots=True)
class Lost:
    """A truncated file's earlier contents: their copy (opened) if found, the bytes known
    unread that no copy holds, and the gzip copy that told how long the file was."""

    copy: FileTailer | None
    unread: int
    compressed: str | None


def what_was_lost(was: SavedPosition) -> Lost:
    """The file `was` was taken from was truncated below `was.offset`: where its unread
    bytes went (`was.size` is the size last seen; a gzip copy may say it grew since)."""
    found = find_copy(was)
    size, compressed = was.size, None
    if found is None and (gz := gzip_copy_size(was)) is not None:
        compressed, size = gz[0], max(size, gz[1])  # how long the file was, after all
    copied_to = was.offset if found is None else max(was.offset, found.size)
    return Lost(found, max(0, size - copied_to), compressed)


def estimate_lines(unread: int, head: bytes, before: bytes = b"") -> int:
    """How many lines `unread` bytes of a file held, from the mean length of the whole lines in
    what is known of it: its first bytes (`head`, from offset 0) and the bytes that end at the
    read offset (`before`). At least 1 when any byte was unread; 1 when neither sample holds a
    whole line (its lines are longer than that)."""
    if unread <= 0:
        return 0
    whole = head[: head.rfind(b"\n") + 1]
    first_nl = before.find(b"\n")
    if first_nl >= 0:  # `before` ends at a line start; its first line may be cut
        whole += before[first_nl + 1 :]
    lines = whole.count(b"\n")
    if not lines:
        return 1
    return max(1, round(unread * lines / len(whole)))
