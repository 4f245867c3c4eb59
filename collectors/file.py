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
moment loses no line (it may repeat the last unacknowledged batches); a truncation moves them to
the copy (collectors/filepositions.py). The files followed and how rotation moves them are
collectors/followed.py's, where a rotated file's unread lines went collectors/rotated.py's, a
block's lines as events collectors/blocks.py's.
"""

from __future__ import annotations

import glob
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from alerter.collectors.base import CollectorStats, PositionStore, Sink
from alerter.collectors.blocks import Blocks
from alerter.collectors.filepositions import FilePositions
from alerter.collectors.followed import FollowedFiles
from alerter.collectors.inotify import ChangeWaiter
from alerter.collectors.multiline import MultilineConfig as MultilineConfig  # re-exported (config)
from alerter.collectors.parsers import ParserConfig
from alerter.collectors.paths import DirChanges, expand
from alerter.collectors.tail import FileTailer, SavedPosition
from alerter.core.events import LogBatch

log = structlog.get_logger(__name__)

START_AT = ("end", "beginning")
BLOCKS_PER_POLL = 16  # per file and poll, so one busy file cannot starve the others
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
        self._stats = stats
        self._clock = clock
        self._blocks = Blocks(
            cfg.name, cfg.parser, cfg.multiline, cfg.max_line_bytes, stats, clock, self._send
        )
        self._problems: dict[str, str] = {}
        self._dirs_changed = DirChanges()
        self._up: bool | None = None
        self._sink: Sink | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = log.bind(collector=cfg.name)
        self._files = FollowedFiles(cfg.name, stats, self._log)
        self._positions = FilePositions(cfg.name, positions, self._log)
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
        self._files.close_all()
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
                waiter.sync({t.key: t.fd for t in self._files.open_files()}, self._dirs)
                if waiter.wait(self.cfg.poll_interval):
                    self._stop.wait(COALESCE)  # let a burst of writes land in one read
        finally:
            waiter.close()
            if self._thread is None:  # stopped (stop() closes them too, once it has joined)
                self._close_files()

    # --- where to read from: at start, after a truncation -----------------------------------

    def _restore(self) -> None:
        """Open the matched files at their saved positions (or per `start_at` on a first run)."""
        self._dirs_changed.changed(self._expand())  # before opening: what appears later is new
        saved = self._positions.load()
        first_run = not saved
        everything = dict(saved)
        truncated: list[tuple[FileTailer, SavedPosition]] = []
        for path in self._expand():
            t = self._open(path)
            if t is None:
                continue
            if any(a.key == t.key for a in self._files.active.values()):
                t.close()  # the same file, through a link
                continue
            pos = saved.pop(t.key, None)
            if pos is not None and t.resumes(pos):
                t.set_offset(pos.offset)
            elif pos is not None:  # truncated (or rewritten) while we were stopped
                truncated.append((t, pos))
            elif first_run and self.cfg.start_at == "end":
                t.seek_end()
            self._files.active[path] = t
        stale = self._files.resume_moved(saved.values())
        for t, pos in truncated:
            copy = self._files.follow_copy(t, pos, time.monotonic(), t.head)
            if copy is not None:
                self._log.info("truncated_file_resumed_in_copy", path=copy.path, offset=pos.offset)
        if not first_run:
            self._files.adopt_after_restart(everything, self._expand())
        if stale:
            self._positions.delete(stale)
        current = self._files.open_files()
        if current:
            self._positions.save(current)

    def _switch_to_copy(self, t: FileTailer, was: SavedPosition, now: float) -> FileTailer | None:
        """`t` (being followed) was truncated: its earlier contents continue in their copy."""
        copy = self._files.follow_copy(t, was, now, t.head, t.before)
        self._files.adopt_rotated(t.path, t.seen_at)  # copies of contents it never saw
        self._blocks.moved(t.key, copy.key if copy is not None else None)
        self._positions.switch_to_copy(t, copy)
        self._log.info(
            "file_truncated",
            path=t.path,
            offset=was.offset,
            copy=copy.path if copy is not None else None,
        )
        return copy

    # --- one poll ----------------------------------------------------------------------------

    def poll(self) -> bool:
        """Scan, then read what is new. True when a file had more data than one poll reads."""
        now = time.monotonic()
        self._scan(now)
        busy = False
        for t in [*self._files.draining, *self._files.active.values()]:  # older lines first
            if self._stop.is_set():
                return False
            busy |= self._read(t, now)
        self._blocks.flush_timed_out({t.key: t for t in self._files.open_files()}, now)
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
        changed = self._dirs_changed.changed(self._files.active)
        problems.update(self._files.rescan(found, changed, now, wall))
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
        if not self._sink.put_lines(events, self._positions.ack(t, ack_offset)):
            self._stop.set()
            return False
        return True

    def _close_quiet(self, now: float) -> None:
        for t in self._files.quiet(now, self.cfg.rotate_wait):
            self._blocks.close(t)  # (its open multiline event handed on)
            self._files.close(t)
            self._log.info("file_closed", path=t.path)

    def _forget_acked(self) -> None:
        if old := self._files.forget_acked():
            self._positions.delete(old)
