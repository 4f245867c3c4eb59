"""The action history: every decision with its outcome, in the state store's `action_history`.

It is the memory the safety rules read (cooldown, the sliding-window limit, the global cap), so
they hold across daemon restarts. A run is recorded as `running` when decided and updated to
`ok` / `failed` when it ends. A run cut short by a crash (or by a stop that could not wait for
it) stays `running` until the next start marks it `interrupted` (`interrupt_left_running`): it
may have taken effect, so it still counts against the cooldown and the limit.

A record the store refuses (disk full, read-only) is kept in memory, counts in every query as if
stored, and is written by the daemon's next checkpoint that succeeds (`write`), so the limits
hold while the disk is full.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from alerter.rules.templates import rfc3339
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

RUNNING = "running"
OK = "ok"
FAILED = "failed"
DRY_RUN = "dry_run"
SKIPPED_COOLDOWN = "skipped_cooldown"
SKIPPED_LIMIT = "skipped_limit"
RATE_LIMITED = "rate_limited"
REFUSED_PROTECTED = "refused_protected"
INVALID_TARGET = "invalid_target"
INTERRUPTED = "interrupted"  # left `running` by an earlier process: whether it ran is unknown
UNDO_PREFIX = "undo_"  # undo_ok, undo_failed, undo_dry_run

EXECUTED = (RUNNING, OK, FAILED, INTERRUPTED)
INTERRUPTED_DETAIL = "alerter stopped before it ended; whether it took effect is unknown"


class UnfinishedRuns:
    """The runs a daemon started and has not finished, by stored id; the daemon keeps one for
    its lifetime and hands it to each runner it builds.

    A reload builds a new runner, and history, on the same store while the old runner's runs go
    on: they are not an earlier process's leftovers, so `interrupt_left_running` leaves them.
    Thread-safe: the main loop adds, the workers finish.
    """

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._lock = threading.Lock()

    def add(self, record_id: int) -> None:
        with self._lock:
            self._ids.add(record_id)

    def discard(self, record_id: int) -> None:
        with self._lock:
            self._ids.discard(record_id)

    def ids(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._ids)


@dataclass(frozen=True, slots=True)
class Record:
    id: int
    time: float
    action: str
    target: str
    fingerprint: str
    alertname: str
    outcome: str
    dry_run: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": rfc3339(self.time),
            "action": self.action,
            "target": self.target,
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "outcome": self.outcome,
            "dryRun": self.dry_run,
            "detail": self.detail,
        }


_COLUMNS = "id, time, action, target, fingerprint, alertname, outcome, dry_run, detail"


def _fields(r: Record, outcome: str, detail: str) -> tuple[Any, ...]:
    return (
        r.id,
        r.time,
        r.action,
        r.target,
        r.fingerprint,
        r.alertname,
        outcome,
        r.dry_run,
        detail,
    )


def _interrupted(detail: str) -> str:
    return f"{detail}: {INTERRUPTED_DETAIL}" if detail else INTERRUPTED_DETAIL


def _record(row: Sequence[Any]) -> Record:
    return Record(
        int(row[0]), float(row[1]), row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8]
    )


class ActionHistory:
    def __init__(
        self,
        store: StateStore,
        on_error: Callable[[str], None] | None = None,
        unfinished: UnfinishedRuns | None = None,
    ) -> None:
        """`unfinished`: the daemon's, shared with its earlier runners' histories; None: one of
        its own."""
        self.store = store
        self._on_error = on_error or (lambda operation: None)
        self.unfinished = UnfinishedRuns() if unfinished is None else unfinished
        self._lock = threading.Lock()
        self._held: dict[int, Record] = {}  # negative id -> record the store refused
        self._finished: dict[int, tuple[str, str]] = {}  # stored id -> outcome it could not take
        self._ids: dict[int, int] = {}  # negative id -> id once written
        self._next_id = itertools.count(-1, -1)
        self._writing: tuple[dict[int, Record], dict[int, tuple[str, str]]] | None = None

    # --- the checkpoint's part (alerter.runtime.checkpoint.Durable) -----------------------------------

    def dirty(self) -> bool:
        return bool(self._held or self._finished)

    def write(self, db: sqlite3.Connection, now: float, alive: Callable[[], None]) -> None:
        with self._lock:
            held, finished = dict(self._held), dict(self._finished)
            self._writing = (held, finished)
        ids = {}
        for rid, r in sorted(held.items(), reverse=True):  # -1 first: in decision order
            cur = db.execute(
                "INSERT INTO action_history (time, action, target, fingerprint, alertname, outcome,"
                " dry_run, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.time,
                    r.action,
                    r.target,
                    r.fingerprint,
                    r.alertname,
                    r.outcome,
                    int(r.dry_run),
                    r.detail,
                ),
            )
            ids[rid] = int(cur.lastrowid or 0)
        db.executemany(
            "UPDATE action_history SET outcome = ?, detail = ? WHERE id = ?",
            [(outcome, detail, rid) for rid, (outcome, detail) in finished.items()],
        )
        with self._lock:
            self._ids.update(ids)

    def written(self, ok: bool) -> None:
        with self._lock:
            if self._writing is None:
                return
            held, finished = self._writing
            self._writing = None
            if not ok:
                for rid in held:
                    self._ids.pop(rid, None)
                return
            for rid, r in held.items():
                if self._held.get(rid) is r:
                    del self._held[rid]
                    if r.outcome == RUNNING:
                        self.unfinished.add(self._ids[rid])
                elif rid in self._held:  # finished meanwhile: its outcome goes by the real id
                    newer = self._held.pop(rid)
                    self._finished[self._ids[rid]] = (newer.outcome, newer.detail)
            for rid, done in finished.items():
                if self._finished.get(rid) == done:
                    del self._finished[rid]

    def _refused(self, operation: str, error: sqlite3.Error) -> None:
        self._on_error(operation)
        log.error(
            "state_write_failed", part="action_history", operation=operation, error=str(error)
        )

    def _held_records(self) -> list[Record]:
        with self._lock:
            return list(self._held.values())

    def add(
        self,
        time: float,
        action: str,
        target: str,
        fingerprint: str,
        alertname: str,
        outcome: str,
        dry_run: bool,
        detail: str = "",
    ) -> int:
        try:
            with self.store.transaction() as db:
                cur = db.execute(
                    "INSERT INTO action_history (time, action, target, fingerprint, alertname,"
                    " outcome, dry_run, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (time, action, target, fingerprint, alertname, outcome, int(dry_run), detail),
                )
                rid = int(cur.lastrowid or 0)
        except sqlite3.Error as e:
            self._refused("add", e)
            with self._lock:
                rid = next(self._next_id)
                self._held[rid] = Record(
                    rid, time, action, target, fingerprint, alertname, outcome, dry_run, detail
                )
            return rid
        if outcome == RUNNING:
            self.unfinished.add(rid)
        return rid

    def interrupt_left_running(self) -> list[Record]:
        """Mark `interrupted` the runs an earlier process left `running`; returns them."""
        unfinished = self.unfinished.ids()
        try:
            with self.store.transaction() as db:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM action_history WHERE outcome = ? ORDER BY id",
                    (RUNNING,),
                ).fetchall()
                left = [r for r in map(_record, rows) if r.id not in unfinished]
                db.executemany(
                    "UPDATE action_history SET outcome = ?, detail = ? WHERE id = ?",
                    [(INTERRUPTED, _interrupted(r.detail), r.id) for r in left],
                )
        except sqlite3.Error as e:
            self._refused("interrupt", e)
            return []
        return [Record(*_fields(r, INTERRUPTED, _interrupted(r.detail))) for r in left]

    def current_id(self, record_id: int) -> int:
        """The id a record is listed under now: a held record's stored id once written."""
        with self._lock:
            return self._ids.get(record_id, record_id)

    def finish(self, record_id: int, outcome: str, detail: str) -> None:
        with self._lock:
            record_id = self._ids.get(record_id, record_id)
            self.unfinished.discard(record_id)
            held = self._held.get(record_id)
            if held is not None:
                self._held[record_id] = Record(*_fields(held, outcome, detail))
                return
        try:
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE action_history SET outcome = ?, detail = ? WHERE id = ?",
                    (outcome, detail, record_id),
                )
        except sqlite3.Error as e:
            self._refused("finish", e)
            with self._lock:
                self._finished[record_id] = (outcome, detail)

    def runs(self, action: str, target: str, since: float, dry_run: bool) -> list[float]:
        """Times of the runs of `action` on `target` since `since`, oldest first.

        In dry-run mode the "would run" decisions count too, so a dry run shows where the
        limits would have stopped a real one.
        """
        outcomes = (*EXECUTED, DRY_RUN) if dry_run else EXECUTED
        rows = self.store.query(
            f"SELECT time FROM action_history WHERE action = ? AND target = ? AND time >= ?"
            f" AND outcome IN ({','.join('?' * len(outcomes))}) ORDER BY time",
            (action, target, since, *outcomes),
        )
        held = [
            r.time
            for r in self._held_records()
            if r.action == action
            and r.target == target
            and r.time >= since
            and r.outcome in outcomes
        ]
        return sorted([float(r[0]) for r in rows] + held)

    def last_run(self, action: str, target: str, dry_run: bool) -> float | None:
        outcomes = (*EXECUTED, DRY_RUN) if dry_run else EXECUTED
        rows = self.store.query(
            f"SELECT MAX(time) FROM action_history WHERE action = ? AND target = ?"
            f" AND outcome IN ({','.join('?' * len(outcomes))})",
            (action, target, *outcomes),
        )
        times = [
            r.time
            for r in self._held_records()
            if r.action == action and r.target == target and r.outcome in outcomes
        ]
        if rows and rows[0][0] is not None:
            times.append(float(rows[0][0]))
        return max(times, default=None)

    def ran_for(self, action: str, fingerprint: str, since: float, dry_run: bool) -> bool:
        """Whether `action` ran (or, in dry-run mode, would have) for the alert since `since`."""
        outcomes = (*EXECUTED, DRY_RUN) if dry_run else EXECUTED
        rows = self.store.query(
            f"SELECT 1 FROM action_history WHERE fingerprint = ? AND time >= ? AND action = ?"
            f" AND outcome IN ({','.join('?' * len(outcomes))}) LIMIT 1",
            (fingerprint, since, action, *outcomes),
        )
        return bool(rows) or any(
            r.action == action
            and r.fingerprint == fingerprint
            and r.time >= since
            and r.outcome in outcomes
            for r in self._held_records()
        )

    def last_outcome(self, action: str, target: str, outcome: str) -> float | None:
        rows = self.store.query(
            "SELECT MAX(time) FROM action_history WHERE action = ? AND target = ? AND outcome = ?",
            (action, target, outcome),
        )
        times = [
            r.time
            for r in self._held_records()
            if r.action == action and r.target == target and r.outcome == outcome
        ]
        if rows and rows[0][0] is not None:
            times.append(float(rows[0][0]))
        return max(times, default=None)

    def count_all_since(self, since: float) -> int:
        """Runs (real or dry) of every action since `since`: the global per-minute cap."""
        rows = self.store.query(
            f"SELECT COUNT(*) FROM action_history WHERE time >= ?"
            f" AND outcome IN ({','.join('?' * (len(EXECUTED) + 1))})",
            (since, *EXECUTED, DRY_RUN),
        )
        held = sum(
            r.time >= since and r.outcome in (*EXECUTED, DRY_RUN) for r in self._held_records()
        )
        return int(rows[0][0]) + held

    def records(
        self, fingerprint: str | None = None, since: float | None = None, limit: int = 500
    ) -> list[Record]:
        """Newest first."""
        where: list[str] = []
        params: list[Any] = []
        if fingerprint is not None:
            where.append("fingerprint = ?")
            params.append(fingerprint)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        sql = f"SELECT {_COLUMNS} FROM action_history"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.store.query(sql + " ORDER BY time DESC, id DESC LIMIT ?", (*params, limit))
        held = [
            r
            for r in self._held_records()
            if (fingerprint is None or r.fingerprint == fingerprint)
            and (since is None or r.time >= since)
        ]
        records = [self._current(_record(r)) for r in rows] + held
        records.sort(key=lambda r: (r.time, r.id if r.id > 0 else 2**62 - r.id), reverse=True)
        return records[:limit]

    def _current(self, r: Record) -> Record:
        """A stored record with the outcome the store could not take yet."""
        done = self._finished.get(r.id)
        return r if done is None else Record(*_fields(r, *done))

    def target_records(self, action: str, target: str, since: float) -> list[Record]:
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM action_history WHERE action = ? AND target = ? AND time >= ?"
            " ORDER BY time, id",
            (action, target, since),
        )
        held = [
            r
            for r in self._held_records()
            if r.action == action and r.target == target and r.time >= since
        ]
        return [self._current(_record(r)) for r in rows] + held

    def prune(self, before: float) -> int:
        """Forget records older than `before`; returns how many."""
        try:
            with self.store.transaction() as db:
                return int(
                    db.execute("DELETE FROM action_history WHERE time < ?", (before,)).rowcount
                )
        except sqlite3.Error as e:
            self._refused("prune", e)
            return 0
