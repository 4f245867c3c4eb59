"""The file collector: follow files matched by globs through rotation, emit their lines as events.

One thread per collector polls every `poll_interval` (100 ms), and sooner when inotify says a
followed file or its directory changed: it re-expands the globs, stats the paths, and reads every
followed file to EOF in 1 MiB blocks, one batch per block. Rotation:

- rename (logrotate's default) or delete + re-create: the path now names another inode; the old
  handle is kept, read to EOF and closed once it has been quiet for `rotate_wait`; the new file is
  read from its beginning.
- copytruncate / truncation in place: the size fell below our offset (or the first bytes changed).
  The copy (`app.log.1`, `app.log-20240101`: see collectors/rotated.py) is recognised by its
  bytes, read from our offset to its end, then the truncated file from 0. Without a copy, the
  bytes known unread (up to the size last seen, or the size a gzip copy holds) are counted as
  lines in events_dropped{reason="truncated"} and logged.
- rotation while stopped: a saved position whose inode is no longer at its path is looked for in
  the same directory (`app.log.1`) and that file is finished first; one whose file was
  truncated meanwhile is resumed in its copy as above.

Positions are saved in a batch's ack, called after the engine processed it, so a crash at any
moment loses no line (it may repeat the last unacknowledged batches). On a truncation the copy's
position (at the last acknowledged offset) and the truncated file's (at 0) are saved together at
once, and acks of batches read before it go to the copy: whichever saves are durable at a crash,
the restart finds the copy's unread lines (through its saved position, or by content).
"""

from __future__ import annotations

import glob
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import structlog

from alerter.collectors.base import CollectorStats, PositionStore, Sink
from alerter.collectors.blocks import Blocks
from alerter.collectors.inotify import ChangeWaiter
from alerter.collectors.multiline import MultilineConfig as MultilineConfig  # re-exported (config)
from alerter.collectors.parsers import ParserConfig
from alerter.collectors.paths import DirChanges, expand
from alerter.collectors.rotated import (
    estimate_lines,
    find_renamed,
    inode_exists,
    rotated_since,
    what_was_lost,
)
from alerter.collectors.tail import FileTailer, SavedPosition
from alerter.rules.events import LogBatch

log = structlog.get_logger(__name__)

START_AT = ("end", "beginning")
BLOCKS_PER_POLL = 16  # per file and poll, so one busy file cannot starve the others
TOMBSTONES = 64  # closed files kept known per collector (positions kept)
COALESCE = 0.005  # after an inotify wake-up, before reading


@dataclass(frozen=True, slots=True)
class FileConfig:
    name: str
    paths: tuple[str, ...]
    parser: ParserConfig = field(default_factory=ParserConfig)
    start_at: str = "end"  # for files seen the first time the collector runs
    multiline: MultilineConfig | None = None
    max_line_bytes: int = 65536
    poll_interval: float = 0.1
    rotate_wait: float = 5.0  # keep reading a rotated-away file until it is quiet this long


class FileCollector:
    def __init__(
        self,
        cfg: FileConfig,
        positions: PositionStore,
        stats: CollectorStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._positions = positions
        self._stats = stats
        self._clock = clock
        self._blocks = Blocks(
            cfg.name, cfg.parser, cfg.multiline, cfg.max_line_bytes, stats, clock, self._send
        )
        self._active: dict[str, FileTailer] = {}  # path -> tailer of the file now at that path
        self._draining: list[FileTailer] = []  # rotated away or deleted: finish, then close
        self._closed: list[FileTailer] = []  # waiting for their last ack before forgetting
        # Files read to their end, kept known (positions kept, newest TOMBSTONES) so a rotation
        # that renames them again does not make them look unread.
        self._known: dict[str, SavedPosition] = {}
        self._problems: dict[str, str] = {}
        self._dirs_changed = DirChanges()
        self._up: bool | None = None
        self._sink: Sink | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Acks (engine thread) against a truncation switching their file to its copy.
        self._ack_lock = threading.Lock()
        self._log = log.bind(collector=cfg.name)
        # Directories to watch for files appearing (those named without glob characters).
        self._dirs = sorted(
            {d for d in (os.path.dirname(p) for p in cfg.paths) if d and not glob.has_magic(d)}
        )

    # --- lifecycle ---------------------------------------------------------------------------

    STOP_JOIN_SECONDS = 10.0  # stop()'s wait for the thread

    def start(self, sink: Sink) -> None:
        self._sink = sink
        self._stop.clear()
        self._restore()
        self._thread = threading.Thread(
            target=self._run, name=f"collector-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the files; a thread still in a read (a hung network file
        system) closes them as it ends: closed under it, a descriptor could be reused."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.STOP_JOIN_SECONDS)
            if thread.is_alive():  # (its files closed by it as it ends)
                self._log.warning("collector_stop_timeout", seconds=self.STOP_JOIN_SECONDS)
                return
        self._close_files()

    def _close_files(self) -> None:
        for t in [*self._active.values(), *self._draining]:
            t.close()
        self._active.clear()
        self._draining.clear()
        self._blocks.forget()

    def _run(self) -> None:
        waiter = ChangeWaiter()
        try:
            while not self._stop.is_set():
                try:
                    busy = self.poll()
                except Exception:  # the edge of the collector's thread: log, mark down, go on
                    self._log.exception("collector_poll_failed")
                    self._set_up(False)
                    busy = False
                if busy:
                    continue
                if not waiter.available:
                    self._stop.wait(self.cfg.poll_interval)
                    continue
                waiter.sync(
                    {t.key: t.fd for t in [*self._active.values(), *self._draining]},
                    self._dirs,
                )
                if waiter.wait(self.cfg.poll_interval):
                    self._stop.wait(COALESCE)  # let a burst of writes land in one read
        finally:
            waiter.close()
            if self._thread is None:  # stopped (stop() closes them too, once it has joined)
                self._close_files()

    # --- positions ---------------------------------------------------------------------------

    def _restore(self) -> None:
        """Open the matched files at their saved positions (or per `start_at` on a first run)."""
        self._dirs_changed.changed(self._expand())  # before opening: what appears later is new
        saved: dict[str, SavedPosition] = {}
        for key, text in self._positions.load_positions(self.name).items():
            pos = SavedPosition.loads(text)
            if pos is not None and pos.key == key:
                saved[key] = pos
        first_run = not saved
        everything = dict(saved)
        truncated: list[tuple[FileTailer, SavedPosition]] = []
        for path in self._expand():
            t = self._open(path)
            if t is None:
                continue
            if any(a.key == t.key for a in self._active.values()):  # the same file via a link
                t.close()
                continue
            pos = saved.pop(t.key, None)
            if pos is not None and t.resumes(pos):
                t.set_offset(pos.offset)
            elif pos is not None:  # truncated (or rewritten) while we were stopped
                truncated.append((t, pos))
            elif first_run and self.cfg.start_at == "end":
                t.seek_end()
            self._active[path] = t
        stale = []
        for pos in saved.values():
            t = find_renamed(pos)
            if t is None:
                if inode_exists(pos):
                    self._known[pos.key] = pos  # read to its end: a tombstone
                else:
                    stale.append(pos.key)
                    # deleted, or moved out of its directory (olddir, a symlink re-pointed)
                    self._log.info("saved_file_gone", path=pos.path, offset=pos.offset)
                continue
            t.set_offset(pos.offset)
            t.draining_since = time.monotonic()
            self._draining.append(t)
            self._log.info("rotated_file_resumed", path=t.path, offset=pos.offset)
        for t, pos in truncated:
            copy = self._follow_copy(t, pos, time.monotonic(), t.head)
            if copy is not None:
                self._log.info("truncated_file_resumed_in_copy", path=copy.path, offset=pos.offset)
        if not first_run:
            self._adopt_after_restart(everything)
        if stale:
            self._positions.delete_positions(self.name, stale)
        current = [*self._active.values(), *self._draining]
        if current:
            self._positions.save_positions(
                self.name, {t.key: t.position(t.offset).dumps() for t in current}
            )

    def _adopt_after_restart(self, saved: dict[str, SavedPosition]) -> None:
        """Files rotated away after the newest position known for their path, never read."""
        since: dict[str, float] = {}
        for pos in saved.values():
            since[pos.path] = max(since.get(pos.path, -1.0), pos.at)
        for path in self._expand():
            since.setdefault(path, -1.0)
        for path, at in since.items():
            if at >= 0:  # positions from before `at` existed: nothing to go by
                self._adopt_rotated(path, at, saved)

    def _adopt_rotated(
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
        known = {**self._known, **(known or {})}
        followed = {(t.dev, t.ino) for t in [*self._active.values(), *self._draining]}
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
            self._draining.append(t)
            followed.add((t.dev, t.ino))
            self._log.info("rotated_file_adopted", path=sibling, since=round(since, 3))

    def _follow_copy(
        self, t: FileTailer, was: SavedPosition, now: float, head: bytes, before: bytes = b""
    ) -> FileTailer | None:
        """`t` was truncated below `was`: find the copy of its earlier contents and drain it
        from `was.offset` (None when there is none, or another tailer follows it already);
        count and log what is known lost. `head`/`before` are samples of the lost contents,
        for counting lines."""
        lost = what_was_lost(was)
        found, unread, compressed = lost.copy, lost.unread, lost.compressed
        followed = {(f.dev, f.ino) for f in [*self._active.values(), *self._draining]}
        copy = found
        if found is not None and (found.dev, found.ino) in followed:
            found.close()  # read under its own name (a glob matches it): nothing to take over
            copy = None
        if unread:
            lines = estimate_lines(unread, head, before)
            self._stats.dropped(self.name, "truncated", lines)
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
            self._draining.append(copy)
        return copy

    def _switch_to_copy(self, t: FileTailer, was: SavedPosition, now: float) -> FileTailer | None:
        """`t` (being followed) was truncated: its earlier contents continue in their copy."""
        copy = self._follow_copy(t, was, now, t.head, t.before)
        self._adopt_rotated(t.path, t.seen_at)  # copies of contents it never saw
        self._blocks.moved(t.key, copy.key if copy is not None else None)
        with self._ack_lock:  # acks of batches read before it go to the copy from now on
            acked = t.acked
            t.restart(copy)
            saves = {t.key: t.position(0).dumps()}
            if copy is not None:
                copy.acked = acked
                saves[copy.key] = copy.position(acked).dumps()
            try:
                self._positions.save_positions(self.name, saves)
            except Exception:  # the acks that follow save them again
                self._log.exception("position_save_failed", path=t.path)
        self._log.info(
            "file_truncated",
            path=t.path,
            offset=was.offset,
            copy=copy.path if copy is not None else None,
        )
        return copy

    def _ack(self, t: FileTailer, offset: int) -> Callable[[], None]:
        pos = t.position(offset)
        generation = t.generations.current

        def ack() -> None:
            with self._ack_lock:
                # Read before a truncation: the position is in the copy now, or nowhere.
                if generation == t.generations.current:
                    target, save = t, pos
                else:
                    successor = t.generations.successors.get(generation)
                    if successor is None:
                        return
                    target = successor
                    save = replace(pos, path=target.path, dev=target.dev, ino=target.ino)
                try:
                    self._positions.save_positions(self.name, {save.key: save.dumps()})
                except Exception:  # called from the engine thread: never let it fail there
                    self._log.exception("position_save_failed", path=save.path)
                    return
                target.acked = offset

        return ack

    # --- one poll ----------------------------------------------------------------------------

    def poll(self) -> bool:
        """Scan, then read what is new. True when a file had more data than one poll reads."""
        now = time.monotonic()
        self._scan(now)
        busy = False
        for t in [*self._draining, *self._active.values()]:  # older lines first
            if self._stop.is_set():
                return False
            busy |= self._read(t, now)
        self._blocks.flush_timed_out(
            {t.key: t for t in [*self._active.values(), *self._draining]}, now
        )
        self._close_quiet(now)
        self._forget_acked()
        return busy

    def _expand(self) -> list[str]:
        return expand(self.cfg.paths)

    def _scan(self, now: float) -> None:
        # Taken before anything is looked at: a file that appears after this is newer than it.
        wall = time.time()
        problems: dict[str, str] = {}
        found: dict[str, os.stat_result] = {}
        for path in self._expand():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                if not glob.has_magic(path) and path in self.cfg.paths:
                    problems[path] = "no such file"
                continue
            except OSError as e:
                problems[path] = e.strerror or str(e)
                continue
            if stat.S_ISREG(st.st_mode):
                found[path] = st
            elif path in self.cfg.paths:
                problems[path] = "not a regular file"
        changed = self._dirs_changed.changed(self._active)
        rotated: list[tuple[str, float]] = []
        for path, t in list(self._active.items()):
            now_at = found.get(path)
            if now_at is None or (now_at.st_dev, now_at.st_ino) != (t.dev, t.ino):
                del self._active[path]
                t.draining_since = now
                self._draining.append(t)
                rotated.append((path, t.seen_at))
                self._log.info("file_rotated", path=path)
                continue
            if os.path.dirname(path) in changed:
                # Same file, but a file appeared in its directory: a copy of contents written
                # and truncated (or renamed away) between two looks?
                rotated.append((path, t.seen_at))
            t.seen_at = wall
        following = {(t.dev, t.ino) for t in self._active.values()}
        for path, st in found.items():
            if path in self._active or (st.st_dev, st.st_ino) in following:
                continue  # already followed (under this name, or another: a link)
            moved = next(
                (t for t in self._draining if (t.dev, t.ino) == (st.st_dev, st.st_ino)), None
            )
            if moved is not None:  # renamed to another name we also follow: same file
                self._draining.remove(moved)
                moved.path, moved.draining_since = path, None
                self._active[path] = moved
                following.add((moved.dev, moved.ino))
                continue
            try:
                t = FileTailer.open(path)
            except OSError as e:
                problems[path] = e.strerror or str(e)
                continue
            self._active[path] = t  # appeared while running: read from its beginning
            following.add((t.dev, t.ino))
            self._log.info("file_opened", path=path)
        for path, seen_at in rotated:  # rotated more than once since we last looked?
            self._adopt_rotated(path, seen_at, following=self._active.get(path))
        self._report(problems)

    def _open(self, path: str) -> FileTailer | None:
        try:
            return FileTailer.open(path)
        except FileNotFoundError:
            return None
        except OSError as e:
            self._report({**self._problems, path: e.strerror or str(e)})
            return None

    def _report(self, problems: dict[str, str]) -> None:
        for path, why in problems.items():
            if self._problems.get(path) != why:
                self._log.warning("file_unreadable", path=path, error=why)
        for path in self._problems.keys() - problems.keys():
            self._log.info("file_readable", path=path)
        self._problems = problems
        self._set_up(not problems)

    def _set_up(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            self._stats.up(self.name, up)

    def _read(self, t: FileTailer, now: float) -> bool:
        for _ in range(BLOCKS_PER_POLL):
            try:
                was = t.check_truncated()
                if was is not None:
                    copy = self._switch_to_copy(t, was, now)
                    while copy is not None and self._read(copy, now):  # all of it first
                        pass
                    if self._stop.is_set():
                        return False
                chunk = t.read(self.cfg.max_line_bytes)
            except OSError as e:
                self._log.warning("file_read_failed", path=t.path, error=str(e))
                return False
            if chunk is None:
                return False
            t.last_data = now
            if not self._blocks.emit(t, chunk, now) or self._stop.is_set():
                return False
        return True

    # --- lines to events ---------------------------------------------------------------------

    def _send(self, t: FileTailer, events: LogBatch, ack_offset: int) -> bool:
        assert self._sink is not None
        if not self._sink.put_lines(events, self._ack(t, ack_offset)):
            self._stop.set()
            return False
        return True

    def _close_quiet(self, now: float) -> None:
        for t in list(self._draining):
            since = max(t.draining_since or now, t.last_data)
            if now - since < self.cfg.rotate_wait:
                continue
            self._blocks.close(t)
            self._draining.remove(t)
            self._known[t.key] = t.position(t.offset)
            t.close()
            self._closed.append(t)
            self._log.info("file_closed", path=t.path)

    def _forget_acked(self) -> None:
        """Closed files whose last batch is acknowledged stay known (their saved position is a
        tombstone); past TOMBSTONES of them, the oldest positions are deleted."""
        done = [t for t in self._closed if t.acked >= t.offset]
        if not done:
            return
        self._closed = [t for t in self._closed if t not in done]
        if len(self._known) <= TOMBSTONES:
            return
        live = {t.key for t in [*self._active.values(), *self._draining, *self._closed]}
        old = [k for k in self._known if k not in live][: len(self._known) - TOMBSTONES]
        for k in old:
            del self._known[k]
        if old:
            self._positions.delete_positions(self.name, old)
