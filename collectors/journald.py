"""The journald collector: follow `journalctl -o json -f` and send what each read brings as a
LogBatch (as the file collector does), its entries' LogEvents built already.

No python-systemd (it needs compiling): journalctl is run as a subprocess, argv only, never a
shell. The line is MESSAGE; the fields are `unit`, `identifier`, `priority`, `pid` plus every raw
journal field. The cursor of the last entry of a batch is saved in the batch's ack, and a restart
resumes with `--cursor=C`: the entry at C is dropped when it is C itself (verified), kept when
the journal no longer has C and the seek landed on the next entry. So no entry is lost or repeated
(after a crash, at most the unacknowledged batches repeat).

Sizes: journalctl runs with `--all`, else it prints any field over 4096 bytes as null (a long
MESSAGE would arrive empty). A field journald stores as binary (control characters, invalid
UTF-8, NUL) comes as an array of byte values and is decoded as UTF-8 with replacement characters.
Each field value, MESSAGE included, is cut to `max_line_bytes` bytes (at a character boundary),
like the file collector's lines; an entry with anything cut counts once in
`alerter_events_dropped_total{reason="too_long"}`. An entry whose JSON is over
max(16 MiB, 8 x max_line_bytes) is not read at all (memory stays bounded): it is skipped, counted
the same way and logged as `journal_entry_skipped`.

A batch is a backlog's (`LogBatch.backlog`) when journalctl printed it before it caught up:
its last entry was written before this journalctl started, or more of its output was already
waiting when the batch was read (journalctl prints what the journal holds as fast as the pipe
takes it, then follows).

`journalctl:` (argv prefix, default `[journalctl]`) lets tests read a sandbox's journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from alerter.collectors.base import CollectorStats, PositionStore, Sink
from alerter.core.events import LogBatch, LogEvent

log = structlog.get_logger(__name__)

PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_CURSOR_KEY = "cursor"
MAX_ENTRY_BYTES = (
    16 << 20
)  # an entry's JSON line longer than this (and 8 x max_line_bytes) is skipped


@dataclass(frozen=True, slots=True)
class JournaldConfig:
    name: str
    units: tuple[str, ...] = ()  # entries from (or about) these system units ...
    identifiers: tuple[str, ...] = ()  # ... or with these SYSLOG_IDENTIFIERs ...
    # ... or from these user units (_SYSTEMD_USER_UNIT: any user may run one of any name);
    # all three empty: every entry
    user_units: tuple[str, ...] = ()
    priority: int = 7  # only entries at this priority or more urgent (0 emerg ... 7 debug)
    start_at: str = "end"  # first run only; afterwards the saved cursor wins
    journalctl: tuple[str, ...] = ("journalctl",)
    restart_backoff: float = 1.0  # first wait before restarting a journalctl that exited
    max_line_bytes: int = 65536  # each field (MESSAGE included) is cut to this many bytes


def parse_priority(value: str | int) -> int:
    """`err` or 3 -> 3. Raises ValueError."""
    if isinstance(value, int) or value.isdigit():
        n = int(value)
        if 0 <= n <= 7:
            return n
    elif value in PRIORITIES:
        return PRIORITIES.index(value)
    raise ValueError(f"priority must be 0-7 or one of {', '.join(PRIORITIES)}, got {value!r}")


def _text(v: Any) -> str:
    """Journal JSON values: strings, arrays of byte values (binary), or arrays of those."""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        if v and all(isinstance(b, int) for b in v):
            return bytes(b & 0xFF for b in v).decode("utf-8", "replace")
        return _text(v[0]) if v else ""
    return "" if v is None else str(v)


def _cut(text: str, limit: int) -> str | None:
    """`text` cut to `limit` UTF-8 bytes at a character boundary, or None when it fits."""
    # a character is at most 4 bytes: only long texts need encoding to tell
    if len(text) * 4 <= limit or len(raw := text.encode("utf-8", "surrogatepass")) <= limit:
        return None
    return raw[:limit].decode("utf-8", "ignore")


def entry_event(
    entry: Mapping[str, Any], source: str, max_line_bytes: int | None = None
) -> LogEvent:
    """One journal entry (journalctl JSON) as a LogEvent; fields cut to max_line_bytes if given."""
    return limited_event(entry, source, max_line_bytes)[0]


def limited_event(
    entry: Mapping[str, Any], source: str, max_line_bytes: int | None
) -> tuple[LogEvent, bool]:
    """The entry's LogEvent, and whether a field (the MESSAGE or another) had to be cut."""
    fields = {k: _text(v) for k, v in entry.items()}
    cut = False
    if max_line_bytes is not None:
        for k, v in fields.items():
            short = _cut(v, max_line_bytes)
            if short is not None:
                fields[k] = short
                cut = True
    unit = fields.get("_SYSTEMD_UNIT", "")
    if unit in ("", "init.scope"):  # systemd's messages about a unit carry it in UNIT=
        unit = fields.get("UNIT") or fields.get("USER_UNIT") or unit
    fields["unit"] = unit
    fields["identifier"] = fields.get("SYSLOG_IDENTIFIER", "")
    fields["priority"] = fields.get("PRIORITY", "6")
    fields["pid"] = fields.get("_PID", "")
    try:
        t = int(fields.get("__REALTIME_TIMESTAMP", "")) / 1e6
    except ValueError:
        t = time.time()
    return LogEvent(t, source, fields.get("MESSAGE", ""), fields), cut


class JournaldCollector:
    def __init__(
        self, cfg: JournaldConfig, positions: PositionStore, stats: CollectorStats
    ) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._positions = positions
        self._stats = stats
        self._units = frozenset(cfg.units)
        self._identifiers = frozenset(cfg.identifiers)
        self._user_units = frozenset(cfg.user_units)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._cursor: str | None = None  # last entry handed to the sink
        self._log = log.bind(collector=cfg.name)

    def start(self, sink: Sink) -> None:
        self._stop.clear()
        self._cursor = self._positions.load_positions(self.name).get(_CURSOR_KEY)
        self._thread = threading.Thread(
            target=self._run, args=(sink,), name=f"collector-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _kill(self) -> None:
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            # the process group we created: journalctl and any wrapper (nsenter) around it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)

    def argv(self) -> list[str]:
        argv = [*self.cfg.journalctl, "-o", "json", "--all", "-f", "--no-pager"]
        if self._cursor:
            # (-f alone shows only the 10 entries from the cursor until the journal changes)
            argv += [f"--cursor={self._cursor}", "-n", "all"]
        else:
            argv += ["-n", "0" if self.cfg.start_at == "end" else "all"]
        return argv

    def _run(self, sink: Sink) -> None:
        backoff = self.cfg.restart_backoff
        while not self._stop.is_set():
            started, cursor = time.monotonic(), self._cursor
            try:
                self._follow(sink)
            except Exception:
                self._log.exception("journal_read_failed")
            self._stats.up(self.name, False)
            if self._stop.is_set():
                break
            if time.monotonic() - started > 60 or self._cursor != cursor:  # it had been working
                backoff = self.cfg.restart_backoff
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def _mark_end(self) -> None:
        """First run with `start_at: end`: save the cursor of the journal's last entry now, so
        entries written before our first batch is acknowledged survive a restart."""
        # without --all: only __CURSOR is needed, and long fields then print as null
        argv = [*self.cfg.journalctl, "-o", "json", "-n", "1", "--no-pager"]
        try:
            res = subprocess.run(argv, capture_output=True, timeout=30, check=False)
            cursor = json.loads(res.stdout.splitlines()[-1]).get("__CURSOR")
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError, AttributeError):
            return  # empty or unreadable journal: follow from its end
        if isinstance(cursor, str):
            self._cursor = cursor
            self._positions.save_positions(self.name, {_CURSOR_KEY: cursor})

    def _follow(self, sink: Sink) -> None:
        if self._cursor is None and self.cfg.start_at == "end":
            self._mark_end()
        argv = self.argv()
        resume = self._cursor
        started = time.time()  # entries written before this were waiting: a backlog
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            self._log.warning("journalctl_failed", argv=argv, error=str(e))
            return
        with self._lock:
            self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        errors = threading.Thread(target=self._log_stderr, args=(proc.stderr,), daemon=True)
        errors.start()
        self._stats.up(self.name, True)
        self._log.info("journal_following", cursor=resume)
        fd = proc.stdout.fileno()
        waiting = select.poll()  # (not select.select: the fd may be past FD_SETSIZE)
        waiting.register(fd, select.POLLIN)
        cap = max(MAX_ENTRY_BYTES, 8 * self.cfg.max_line_bytes)
        rest = bytearray()  # the start of a line not yet complete
        skipping = False  # inside a line over `cap`: dropped up to its newline
        try:
            while not self._stop.is_set():
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                nl = data.rfind(b"\n")
                if nl < 0:
                    if not skipping:
                        rest += data
                        skipping = self._over(rest, cap)
                    continue
                lines = (bytes(rest) + data[:nl]).split(b"\n")
                rest = bytearray(data[nl + 1 :])
                if skipping:
                    lines = lines[1:]  # the end of the skipped entry
                skipping = self._over(rest, cap)
                events = self._events(lines, resume)
                resume = None  # only the first entry after a (re)start can be the cursor itself
                if events and not self._put(
                    sink, events, events[-1].time < started or _more(waiting)
                ):
                    break
        finally:
            self._kill()
            proc.wait(timeout=10)
            errors.join(timeout=1)
            with self._lock:
                self._proc = None
        if not self._stop.is_set():
            self._log.warning("journalctl_exited", code=proc.returncode)

    def _over(self, rest: bytearray, cap: int) -> bool:
        """Is the incomplete line in `rest` over `cap`? Then it is dropped (counted, logged)."""
        if len(rest) <= cap:
            return False
        self._stats.dropped(self.name, "too_long", 1)
        self._log.warning("journal_entry_skipped", over_bytes=cap, after_cursor=self._cursor)
        rest.clear()
        return True

    def _events(self, lines: list[bytes], resume: str | None) -> list[LogEvent]:
        out: list[LogEvent] = []
        cut = 0
        last = _seqnum(self._cursor) if self._cursor else None  # each cursor parsed once
        for raw in lines:
            try:
                entry = json.loads(raw)
            except ValueError:
                self._stats.dropped(self.name, "parse_error", 1)
                continue
            if not isinstance(entry, dict):
                continue
            cursor = entry.get("__CURSOR")
            if isinstance(cursor, str):
                seq = _seqnum(cursor)
                self._missed(last, seq, self._cursor)
                last, self._cursor = seq, cursor
                if resume is not None and cursor == resume:
                    resume = None
                    continue  # the entry we had already delivered
            resume = None
            if not self._wanted(entry):
                continue
            event, was_cut = limited_event(entry, self.name, self.cfg.max_line_bytes)
            cut += was_cut
            out.append(event)
        if cut:
            self._stats.dropped(self.name, "too_long", cut)
        return out

    def _missed(
        self, was: tuple[str, int] | None, now: tuple[str, int] | None, before: str | None
    ) -> None:
        """Count and log the entries between two journalctl gave one after the other (their
        cursors' sequence numbers `was` and `now`; `before`, the first's cursor) that it no
        longer has: vacuumed (or rotated away) before alerter read them. Entries of one
        journald share a sequence-number space (`s=`), numbered one by one (`i=`, hex), and
        journalctl is run without filters, so a gap there is entries gone."""
        if was is None or now is None or was[0] != now[0] or now[1] <= was[1] + 1:
            return
        lost = now[1] - was[1] - 1
        self._stats.dropped(self.name, "vacuumed", lost)
        self._log.warning("journal_entries_lost", entries=lost, after_cursor=before)

    def _wanted(self, entry: Mapping[str, Any]) -> bool:
        try:
            if int(_text(entry.get("PRIORITY", "6"))) > self.cfg.priority:
                return False
        except ValueError:
            pass
        if not self._units and not self._identifiers and not self._user_units:
            return True
        if self._identifiers and _text(entry.get("SYSLOG_IDENTIFIER")) in self._identifiers:
            return True
        # a user unit's name is its user's choice (`systemd-run --user --unit=web`): `units`
        # are system units only, the user's own are asked for by `user_units`
        if self._user_units and _text(entry.get("_SYSTEMD_USER_UNIT")) in self._user_units:
            return True
        if self._units:
            if _text(entry.get("_SYSTEMD_UNIT")) in self._units:  # (set by journald)
                return True
            # systemd's own messages about a unit: UNIT= from PID 1 only (anyone can send an
            # entry with a UNIT= field of their choosing)
            if _text(entry.get("_PID")) == "1" and _text(entry.get("UNIT")) in self._units:
                return True
        return False

    def _put(self, sink: Sink, events: list[LogEvent], backlog: bool = False) -> bool:
        cursor = self._cursor
        assert cursor is not None

        def ack() -> None:
            try:
                self._positions.save_positions(self.name, {_CURSOR_KEY: cursor})
            except Exception:
                self._log.exception("position_save_failed")

        return sink.put_lines(LogBatch.of_events(self.name, time.time(), events, backlog), ack)

    def _log_stderr(self, stream: Any) -> None:
        for line in stream:
            text = line.decode("utf-8", "replace").strip()
            if text:
                self._log.warning("journalctl_stderr", message=text[:500])


def _more(waiting: select.poll) -> bool:
    """Is more of journalctl's output waiting to be read (or its end)?"""
    return bool(waiting.poll(0))


def _seqnum(cursor: str) -> tuple[str, int] | None:
    """(sequence-number id, sequence number) of a journal cursor (`s=...;i=...;...`)."""
    parts = dict(p.partition("=")[::2] for p in cursor.split(";"))
    try:
        return parts["s"], int(parts["i"], 16)
    except (KeyError, ValueError):
        return None
