"""The files a file collector follows, by what became of them, and how rotation moves them.

A followed file is known by its identity (device, inode and first bytes: `FileTailer.key`),
not by its path, which a rotation gives to another file:

- `active`: the file now at each path matched, read as it grows;
- `draining`: rotated away (renamed or deleted), found rotated while alerter was stopped, or
  the copy of a truncated file: read to its end, closed once quiet for `rotate_wait`;
- `closed`: closed, waiting for its last batch to be acknowledged;
- `known`: read to its end; its position is kept (for the newest TOMBSTONES) so a rotation
  that renames it again (`app.log.1` -> `app.log.2`) does not make it look unread.

Where a rotated file's unread lines went is collectors/rotated.py's: found by inode, a copy by
its bytes, siblings rotated since a time by their names.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from structlog.typing import FilteringBoundLogger

from alerter.collectors.base import CollectorStats
from alerter.collectors.rotated import (
    estimate_lines,
    find_renamed,
    inode_exists,
    rotated_since,
    what_was_lost,
)
from alerter.collectors.tail import FileTailer, SavedPosition

TOMBSTONES = 64  # closed files kept known per collector (positions kept)


class FollowedFiles:
    def __init__(self, name: str, stats: CollectorStats, log: FilteringBoundLogger) -> None:
        self._name = name
        self._stats = stats
        self._log = log
        self.active: dict[str, FileTailer] = {}  # path -> tailer of the file now at that path
        self.draining: list[FileTailer] = []  # rotated away or deleted: finish, then close
        self.closed: list[FileTailer] = []  # waiting for their last ack before forgetting
        # Files read to their end, kept known (positions kept, newest TOMBSTONES) so a rotation
        # that renames them again does not make them look unread.
        self.known: dict[str, SavedPosition] = {}

    def open_files(self) -> list[FileTailer]:
        return [*self.active.values(), *self.draining]

    def close_all(self) -> None:
        for t in self.open_files():
            t.close()
        self.active.clear()
        self.draining.clear()

    def resume_moved(self, saved: Iterable[SavedPosition]) -> list[str]:
        """At start, the saved positions whose file is not at its path any more: a file renamed
        in the same directory (rotated while stopped) is finished from its position, one still
        on disk elsewhere was read to its end (a tombstone). Returns the keys of the others,
        whose files are gone."""
        stale = []
        for pos in saved:
            t = find_renamed(pos)
            if t is None:
                if inode_exists(pos):
                    self.known[pos.key] = pos  # read to its end: a tombstone
                else:
                    stale.append(pos.key)
                    # deleted, or moved out of its directory (olddir, a symlink re-pointed)
                    self._log.info("saved_file_gone", path=pos.path, offset=pos.offset)
                continue
            t.set_offset(pos.offset)
            t.draining_since = time.monotonic()
            self.draining.append(t)
            self._log.info("rotated_file_resumed", path=t.path, offset=pos.offset)
        return stale

    def adopt_after_restart(self, saved: dict[str, SavedPosition], paths: list[str]) -> None:
        """Files rotated away after the newest position known for their path, never read."""
        since: dict[str, float] = {}
        for pos in saved.values():
            since[pos.path] = max(since.get(pos.path, -1.0), pos.at)
        for path in paths:
            since.setdefault(path, -1.0)
        for path, at in since.items():
            if at >= 0:  # positions from before `at` existed: nothing to go by
                self.adopt_rotated(path, at, saved)

    def rescan(
        self, found: dict[str, os.stat_result], changed: set[str], now: float, wall: float
    ) -> dict[str, str]:
        """Match the files now at the paths (`found`: path -> stat) to those followed: a path
        whose file changed identity is rotated (its file drains), a file renamed to another
        path followed stays the same file, a new one is read from its beginning. Then the
        siblings rotated since each rotated path was last seen (`wall` is now's time) are
        adopted. Returns the paths that could not be opened, with why."""
        problems: dict[str, str] = {}
        rotated: list[tuple[str, float]] = []
        for path, t in list(self.active.items()):
            now_at = found.get(path)
            if now_at is None or (now_at.st_dev, now_at.st_ino) != (t.dev, t.ino):
                del self.active[path]
                t.draining_since = now
                self.draining.append(t)
                rotated.append((path, t.seen_at))
                self._log.info("file_rotated", path=path)
                continue
            if os.path.dirname(path) in changed:
                # Same file, but a file appeared in its directory: a copy of contents written
                # and truncated (or renamed away) between two looks?
                rotated.append((path, t.seen_at))
            t.seen_at = wall
        following = {(t.dev, t.ino) for t in self.active.values()}
        for path, st in found.items():
            if path in self.active or (st.st_dev, st.st_ino) in following:
                continue  # already followed (under this name, or another: a link)
            moved = next(
                (t for t in self.draining if (t.dev, t.ino) == (st.st_dev, st.st_ino)), None
            )
            if moved is not None:  # renamed to another name we also follow: same file
                self.draining.remove(moved)
                moved.path, moved.draining_since = path, None
                self.active[path] = moved
                following.add((moved.dev, moved.ino))
                continue
            try:
                t = FileTailer.open(path)
            except OSError as e:
                problems[path] = e.strerror or str(e)
                continue
            self.active[path] = t  # appeared while running: read from its beginning
            following.add((t.dev, t.ino))
            self._log.info("file_opened", path=path)
        for path, seen_at in rotated:  # rotated more than once since we last looked?
            self.adopt_rotated(path, seen_at, following=self.active.get(path))
        return problems

    def adopt_rotated(
        self,
        path: str,
        since: float,
        known: dict[str, SavedPosition] | None = None,
        following: FileTailer | None = None,
    ) -> None:
        """Read from their beginning the siblings of `path` rotated after `since` that no
        followed or known file is (see collectors/rotated.py). A sibling holding what was
        read of `following` (the file at `path`) is a copy of it, taken before a truncation:
        that truncation switches to it at the read offset."""
        known = {**self.known, **(known or {})}
        followed = {(t.dev, t.ino) for t in self.open_files()}
        read = following.position(following.offset) if following and following.offset else None
        for sibling in rotated_since(path, since):
            try:
                t = FileTailer.open(sibling)
            except OSError:
                continue
            pos = known.get(t.key)
            grew = pos is not None and t.matches(pos) and t.size > pos.offset
            if (
                (t.dev, t.ino) in followed
                or (pos is not None and t.matches(pos) and not grew)
                or (read is not None and t.holds(read))
            ):
                t.close()
                continue
            if grew and pos is not None:  # written to after it was closed as quiet
                t.set_offset(pos.offset)
            t.draining_since = time.monotonic()
            self.draining.append(t)
            followed.add((t.dev, t.ino))
            self._log.info("rotated_file_adopted", path=sibling, since=round(since, 3))

    def follow_copy(
        self, t: FileTailer, was: SavedPosition, now: float, head: bytes, before: bytes = b""
    ) -> FileTailer | None:
        """`t` was truncated below `was`: find the copy of its earlier contents and drain it
        from `was.offset` (None when there is none, or another tailer follows it already);
        count and log what is known lost. `head`/`before` are samples of the lost contents,
        for counting lines."""
        lost = what_was_lost(was)
        found, unread, compressed = lost.copy, lost.unread, lost.compressed
        followed = {(f.dev, f.ino) for f in self.open_files()}
        copy = found
        if found is not None and (found.dev, found.ino) in followed:
            found.close()  # read under its own name (a glob matches it): nothing to take over
            copy = None
        if unread:
            lines = estimate_lines(unread, head, before)
            self._stats.dropped(self._name, "truncated", lines)
            self._log.warning(
                "file_truncated_lines_lost",
                path=was.path,
                bytes=unread,
                lines=lines,
                copy=found.path if found is not None else None,
                compressed_copy=compressed,
            )
        if copy is not None:
            copy.set_offset(was.offset)
            copy.draining_since = now
            self.draining.append(copy)
        return copy

    def quiet(self, now: float, rotate_wait: float) -> list[FileTailer]:
        """The draining files read to their end and quiet for `rotate_wait`: to be closed."""
        out = []
        for t in self.draining:
            since = max(t.draining_since or now, t.last_data)
            if now - since < rotate_wait:
                continue
            out.append(t)
        return out

    def close(self, t: FileTailer) -> None:
        """Close draining `t`: known from now on, forgotten once its last batch is acked."""
        self.draining.remove(t)
        self.known[t.key] = t.position(t.offset)
        t.close()
        self.closed.append(t)

    def forget_acked(self) -> list[str]:
        """Closed files whose last batch is acknowledged stay known (their saved position is a
        tombstone); past TOMBSTONES of them, the oldest are forgotten: returns their keys,
        whose positions are to be deleted."""
        done = [t for t in self.closed if t.acked >= t.offset]
        if not done:
            return []
        self.closed = [t for t in self.closed if t not in done]
        if len(self.known) <= TOMBSTONES:
            return []
        live = {t.key for t in [*self.active.values(), *self.draining, *self.closed]}
        old = [k for k in self.known if k not in live][: len(self.known) - TOMBSTONES]
        for k in old:
            del self.known[k]
        return old
