"""The journald collector: follow `journalctl -o json -f` and emit each entry as a LogEvent.

No python-systemd (it needs compiling): journalctl is run as a subprocess, argv only, never a
shell. The line is MESSAGE; the fields are `unit`, `identifier`, `priority`, `pid` plus every raw
journal field. The cursor of the last entry of a batch is saved in the batch's ack, and a restart
resumes with `--cursor=C`: the entry at C is dropped when it is C itself (verified), kept when
the journal no longer has C and the seek landed on the next entry. So no entry is lost or repeated
(after a crash, at most the unacknowledged batches repeat).

`journalctl:` (argv prefix, default `[journalctl]`) lets tests read a sandbox's journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from collectors.base import CollectorStats, PositionStore, Sink
from collectors.events import LogEvent

log = structlog.get_logger(__name__)

PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_CURSOR_KEY = "cursor"


@dataclass(frozen=True, slots=True)
class JournaldConfig:
    name: str
    units: tuple[str, ...] = ()  # entries from (or about) these units ...
    identifiers: tuple[str, ...] = ()  # ... or with these SYSLOG_IDENTIFIERs; both empty: all
    priority: int = 7  # only entries at this priority or more urgent (0 emerg ... 7 debug)
    start_at: str = "end"  # first run only; afterwards the saved cursor wins
    journalctl: tuple[str, ...] = ("journalctl",)
    restart_backoff: float = 1.0  # first wait before restarting a journalctl that exited


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


def entry_event(entry: Mapping[str, Any], source: str) -> LogEvent:
    """One journal entry (journalctl JSON) as a LogEvent."""
    fields = {k: _text(v) for k, v in entry.items()}
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
    return LogEvent(t, source, fields.get("MESSAGE", ""), fields)


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
        argv = [*self.cfg.journalctl, "-o", "json", "-f", "--no-pager"]
        if self._cursor:
            argv.append(f"--cursor={self._cursor}")
        else:
            argv += ["-n", "0" if self.cfg.start_at == "end" else "all"]
        return argv

    def _run(self, sink: Sink) -> None:
        backoff = self.cfg.restart_backoff
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._follow(sink)
            except Exception:
                self._log.exception("journal_read_failed")
            self._stats.up(self.name, False)
            if self._stop.is_set():
                break
            if time.monotonic() - started > 60:
                backoff = self.cfg.restart_backoff
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def _mark_end(self) -> None:
        """First run with `start_at: end`: save the cursor of the journal's last entry now, so
        entries written before our first batch is acknowledged survive a restart."""
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
        rest = b""
        try:
            while not self._stop.is_set():
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                rest += data
                nl = rest.rfind(b"\n")
                if nl < 0:
                    continue
                lines, rest = rest[:nl].split(b"\n"), rest[nl + 1 :]
                events = self._events(lines, resume)
                resume = None  # only the first entry after a (re)start can be the cursor itself
                if events and not self._put(sink, events):
                    break
        finally:
            self._kill()
            proc.wait(timeout=10)
            errors.join(timeout=1)
            with self._lock:
                self._proc = None
        if not self._stop.is_set():
            self._log.warning("journalctl_exited", code=proc.returncode)

    def _events(self, lines: list[bytes], resume: str | None) -> list[LogEvent]:
        out: list[LogEvent] = []
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
                self._cursor = cursor
                if resume is not None and cursor == resume:
                    resume = None
                    continue  # the entry we had already delivered
            resume = None
            if not self._wanted(entry):
                continue
            out.append(entry_event(entry, self.name))
        return out

    def _wanted(self, entry: Mapping[str, Any]) -> bool:
        try:
            if int(_text(entry.get("PRIORITY", "6"))) > self.cfg.priority:
                return False
        except ValueError:
            pass
        if not self._units and not self._identifiers:
            return True
        if self._identifiers and _text(entry.get("SYSLOG_IDENTIFIER")) in self._identifiers:
            return True
        if self._units:
            for key in ("_SYSTEMD_UNIT", "UNIT", "USER_UNIT", "_SYSTEMD_USER_UNIT"):
                if _text(entry.get(key)) in self._units:
                    return True
        return False

    def _put(self, sink: Sink, events: list[LogEvent]) -> bool:
        cursor = self._cursor
        assert cursor is not None

        def ack() -> None:
            try:
                self._positions.save_positions(self.name, {_CURSOR_KEY: cursor})
            except Exception:
                self._log.exception("position_save_failed")

        return sink.put(events, ack)

    def _log_stderr(self, stream: Any) -> None:
        for line in stream:
            text = line.decode("utf-8", "replace").strip()
            if text:
                self._log.warning("journalctl_stderr", message=text[:500])
