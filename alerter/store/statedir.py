"""The files of `global.state_dir` around the SQLite store: the daemon's lock, the checks made
before the database is opened, and moving a corrupt database aside.

`alerter.store.db.StateStore` uses these on open; nothing here reads or writes rows.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from alerter.errors import StateError

SIDECARS = ("-wal", "-shm")  # SQLite's write-ahead log and its shared-memory index
LOST_ON_RESET = "positions, alert state, outbox, silences, action history"
AFTER_RESET = (
    "starting with an empty state: collectors start per start_at, alerts still active fire "
    "and notify again, queued notifications, silences and bans are gone"
)
_CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def is_corruption(e: sqlite3.Error) -> bool:
    """Whether SQLite said the file is damaged (not: locked, read-only, unopenable, I/O)."""
    code = getattr(e, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPT_CODES


def _sidecar(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def _user() -> str:
    return f"uid {os.getuid()}"


def prepare_dir(state_dir: Path, db: Path) -> None:
    """Create the state dir and check the user can use it; StateError says what to change."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StateError(
            f"cannot create state dir {state_dir}: {e.strerror or e}: create it writable by "
            f"the user alerter runs as ({_user()}) or set global.state_dir to a writable directory"
        ) from e
    if not os.access(state_dir, os.R_OK | os.W_OK | os.X_OK):
        raise StateError(
            f"state dir {state_dir} is not writable by the user alerter runs as ({_user()}; "
            "read-only file system or permissions): fix its owner or mode, or set "
            "global.state_dir to a writable directory"
        )
    for f in (db, *(_sidecar(db, s) for s in SIDECARS)):
        if f.exists() and not os.access(f, os.R_OK | os.W_OK):
            raise StateError(
                f"{f} is not readable and writable by the user alerter runs as ({_user()}): "
                "fix its owner or mode, or set global.state_dir to a writable directory"
            )


def find_corruption(db: Path) -> str | None:
    """Why `db` is damaged, or None when it is sound, absent, or fails for another reason
    (the read-write open then reports that one). Reads only: a read-only connection neither
    checkpoints the write-ahead log into the file nor deletes it, so what is moved aside is
    what was found."""
    try:
        size = db.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        # SQLite deletes the log of an empty database on open. A log of committed pages beside
        # an empty file means the file was truncated (setting WAL mode writes page 1 first).
        wal = _sidecar(db, "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return "the database file is empty but its write-ahead log is not (truncated file)"
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(db.absolute()))}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return str(e) if is_corruption(e) else None
    if rows != [("ok",)]:
        lines = [ln for r in rows for ln in str(r[0]).splitlines() if not ln.startswith("***")]
        return "quick_check: " + "; ".join(lines[:3])
    return None


def move_aside(db: Path) -> Path:
    """Rename `db` and its -wal/-shm to `<db>.corrupt-<UTC time>` (+ suffixes); return the new
    name of `db`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = db.with_name(f"{db.name}.corrupt-{stamp}")
    n = 1
    while any(_sidecar(dest, s).exists() for s in ("", *SIDECARS)):
        n += 1
        dest = db.with_name(f"{db.name}.corrupt-{stamp}.{n}")
    try:
        for s in ("", *SIDECARS):
            if _sidecar(db, s).exists():
                _sidecar(db, s).rename(_sidecar(dest, s))
    except OSError as e:
        raise StateError(
            f"{db} is corrupt and cannot be moved aside to {dest}: {e.strerror or e}: move or "
            "delete it (and its -wal, -shm files) by hand"
        ) from e
    return dest


@dataclass
class StateDirLock:
    """`state_dir/lock`, held by the one daemon that uses the dir; it holds its PID.

    flock(2) is released by the kernel when the holder dies, so a lock file left by a killed
    daemon does not block the next one. The descriptor is close-on-exec (children started
    with exec do not inherit the lock)."""

    path: Path
    _fd: int | None

    @classmethod
    def acquire(cls, state_dir: Path) -> StateDirLock:
        path = state_dir / "lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StateError(
                f"cannot open lock file {path}: {e.strerror or e}: make {state_dir} writable by "
                f"the user alerter runs as ({_user()}) or set global.state_dir to another directory"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StateError(
                f"state dir {state_dir} is in use by another alerter (pid {holder}): stop it or "
                "set global.state_dir to another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # still held here: no other process reads a stale PID
            os.close(self._fd)
            self._fd = None
