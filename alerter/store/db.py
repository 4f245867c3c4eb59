"""The SQLite state store in `global.state_dir`: positions, alert state, outbox, silences, actions.

One file (`state.db`), WAL mode, a versioned schema migrated forward on open. All access goes
through one connection guarded by a lock: writes are small and SQLite serialises them anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import structlog

from alerter.errors import StateError
from alerter.store.statedir import (
    AFTER_RESET,
    LOST_ON_RESET,
    StateDirLock,
    find_corruption,
    is_corruption,
    move_aside,
    prepare_dir,
)

log = structlog.get_logger(__name__)

# Each entry migrates from version i to i+1. Never edit a released entry; append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE positions (
        collector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (collector, key));
    CREATE TABLE kv (
        namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (namespace, key));
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        notifier TEXT NOT NULL,
        created REAL NOT NULL,
        next_attempt REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        payload TEXT NOT NULL);
    CREATE INDEX outbox_by_notifier ON outbox (notifier, id);
    CREATE TABLE silences (
        id TEXT PRIMARY KEY, ends_at REAL NOT NULL, data TEXT NOT NULL);
    CREATE TABLE action_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        alertname TEXT NOT NULL,
        outcome TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        detail TEXT NOT NULL);
    CREATE INDEX action_history_by_target ON action_history (action, target, time);
    """,
    # 2: the action history is also read per alert (notes, ?fingerprint=) and by time (global cap)
    """
    CREATE INDEX action_history_by_fingerprint ON action_history (fingerprint, time);
    CREATE INDEX action_history_by_time ON action_history (time);
    """,
    # 3: bans (alerter/actions/bans.py): every ban with its end; in force while until > now
    """
    CREATE TABLE bans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        address TEXT NOT NULL,
        ports TEXT NOT NULL,
        time REAL NOT NULL,
        until REAL NOT NULL,
        lifted REAL,
        action TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        alertname TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        detail TEXT NOT NULL);
    CREATE INDEX bans_by_address ON bans (address, time);
    CREATE INDEX bans_by_until ON bans (until);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
IDENTITY_EVERY = 1.0  # seconds between looks at whether state.db is still the file open


def _identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) at `path`, None when there is no file."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class StateStore:
    """Durable state. Thread-safe; every method is one transaction."""

    def __init__(self, state_dir: str | Path, *, lock: bool = False) -> None:
        """Open (creating, migrating) `state_dir/state.db`. A corrupt database is moved aside
        with its -wal/-shm and a fresh one started; problems the user can fix raise StateError.
        `lock=True` (the daemon) also takes `state_dir/lock`, refusing a second daemon."""
        self.dir = Path(state_dir)
        self.path = self.dir / "state.db"
        self._lock = threading.RLock()
        prepare_dir(self.dir, self.path)
        self._dir_lock = StateDirLock.acquire(self.dir) if lock else None
        try:
            self._open()
        except BaseException:
            self._release_dir_lock()
            raise

    def _open(self) -> None:
        problem = find_corruption(self.path)
        if problem is not None:
            self._reset(problem)
        elif self.path.exists() and self.path.stat().st_size == 0:
            # a crash between creating the file and setting WAL mode, or a truncation
            log.warning("state_store_found_empty", path=str(self.path), next=AFTER_RESET)
        try:
            self._connect_and_migrate()
        except sqlite3.DatabaseError as e:
            if not is_corruption(e):
                raise self._open_error(e) from e
            self._reset(str(e))  # damage quick_check does not look for
            try:
                self._connect_and_migrate()
            except sqlite3.Error as e2:
                raise self._open_error(e2) from e2

    def _connect_and_migrate(self) -> None:
        try:
            self._db = self._connect()
        except sqlite3.Error as e:
            raise self._open_error(e) from e
        self._looked = float("inf")  # not looked at before the file is written (below)
        try:
            self._configure()
            self._migrate()
        except BaseException:
            self._db.close()
            raise
        self._identity = _identity(self.path)
        self._looked = time.monotonic()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30
        )

    def _configure(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def _check_file(self) -> None:
        """Put the database back at its path if it is no longer there (deleted or replaced
        while open: SQLite would go on writing to the unlinked file, and the next start would
        find none, read every log again from `start_at` and lose the outbox). Looked at once a
        second at most, before a transaction; the open connection still holds everything."""
        now = time.monotonic()
        if now - self._looked < IDENTITY_EVERY:
            return
        self._looked = now
        if _identity(self.path) == self._identity:
            return
        spare = self.path.with_name(self.path.name + ".restoring")
        try:
            with suppress(FileNotFoundError):
                spare.unlink()
            copy = sqlite3.connect(str(spare))
            try:
                self._db.backup(copy)
            finally:
                copy.close()
            spare.replace(self.path)  # (a -wal or -shm of another file there would not match)
            for suffix in ("-wal", "-shm"):
                with suppress(FileNotFoundError):
                    self.path.with_name(self.path.name + suffix).unlink()
            old, self._db = self._db, self._connect()
            old.close()
            self._configure()
        except (OSError, sqlite3.Error) as e:
            log.error("state_store_file_gone", path=str(self.path), restored=False, error=str(e))
            return
        self._identity = _identity(self.path)
        log.error("state_store_file_gone", path=str(self.path), restored=True)

    def _reset(self, problem: str) -> None:
        """Move the corrupt database aside (under the dir lock) and log what is lost."""
        held = self._dir_lock
        try:
            dir_lock = held if held is not None else StateDirLock.acquire(self.dir)
        except StateError as e:
            raise StateError(f"{self.path} is corrupt ({problem}) and not moved aside: {e}") from e
        try:
            dest = move_aside(self.path)
        finally:
            if held is None:
                dir_lock.release()
        log.error(
            "state_store_corrupt",
            path=str(self.path),
            problem=problem,
            moved_to=str(dest),
            lost=LOST_ON_RESET,
            next=AFTER_RESET,
        )

    def _open_error(self, e: sqlite3.Error) -> StateError:
        return StateError(
            f"cannot open state store {self.path}: {e}: make {self.dir} and its files readable "
            "and writable by the user alerter runs as, or set global.state_dir to a writable "
            "directory"
        )

    def _migrate(self) -> None:
        with self._lock:
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path} has schema version {version}, newer than this alerter "
                    f"({SCHEMA_VERSION}); upgrade alerter or point state_dir elsewhere"
                )
            for i in range(version, SCHEMA_VERSION):
                with self.transaction() as db:
                    for stmt in MIGRATIONS[i].split(";"):
                        if stmt.strip():
                            db.execute(stmt)
                    db.execute(f"PRAGMA user_version = {i + 1}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_file()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    def query_bounded(
        self,
        sql: str,
        params: Sequence[Any],
        budget: int,
        size: Callable[[tuple[Any, ...]], int],
    ) -> list[tuple[Any, ...]]:
        """The first rows of `sql` until their `size`s add up to `budget` (the row that reaches
        it included, so at least one): the rows after it are not read at all."""
        rows: list[tuple[Any, ...]] = []
        total = 0
        with self._lock:
            cursor = self._db.execute(sql, params)
            try:
                for row in cursor:
                    rows.append(row)
                    total += size(row)
                    if total >= budget:
                        break
            finally:
                cursor.close()
        return rows

    def close(self) -> None:
        with self._lock:
            with suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._release_dir_lock()

    def _release_dir_lock(self) -> None:
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    # --- positions (alerter.collectors.base.PositionStore) ---------------------------------------

    def load_positions(self, collector: str) -> dict[str, str]:
        rows = self.query("SELECT key, value FROM positions WHERE collector = ?", (collector,))
        return {k: v for k, v in rows}

    def save_positions(self, collector: str, positions: dict[str, str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO positions (collector, key, value) VALUES (?, ?, ?)",
                [(collector, k, v) for k, v in positions.items()],
            )

    def delete_positions(self, collector: str, keys: Sequence[str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM positions WHERE collector = ? AND key = ?",
                [(collector, k) for k in keys],
            )

    # --- key/value documents (engine snapshots, dispatcher group state, ...) --------------

    def kv_get(self, namespace: str, key: str, loads: Callable[[str], Any] = json.loads) -> Any:
        """The value stored under the key, decoded by `loads`; None if there is none."""
        rows = self.query("SELECT value FROM kv WHERE namespace = ? AND key = ?", (namespace, key))
        return loads(rows[0][0]) if rows else None

    def kv_put(self, namespace: str, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)",
                (namespace, key, json.dumps(value, separators=(",", ":"))),
            )

    def kv_put_many(
        self, namespace: str, items: dict[str, Any], *, replace_all: bool = False
    ) -> None:
        with self.transaction() as db:
            if replace_all:
                db.execute("DELETE FROM kv WHERE namespace = ?", (namespace,))
            db.executemany(
                "INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)",
                [(namespace, k, json.dumps(v, separators=(",", ":"))) for k, v in items.items()],
            )

    def kv_items(self, namespace: str) -> dict[str, Any]:
        rows = self.query("SELECT key, value FROM kv WHERE namespace = ?", (namespace,))
        return {k: json.loads(v) for k, v in rows}

    def kv_delete(self, namespace: str, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key))
