"""The action history: every decision with its outcome, in the state store's `action_history`.

It is the memory the safety rules read (cooldown, the sliding-window limit, the global cap), so
they hold across daemon restarts. A run is recorded as `running` when decided and updated to
`ok` / `failed` when it ends: a run interrupted by a crash still counts against the limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alerter.state import StateStore

RUNNING = "running"
OK = "ok"
FAILED = "failed"
DRY_RUN = "dry_run"
SKIPPED_COOLDOWN = "skipped_cooldown"
SKIPPED_LIMIT = "skipped_limit"
RATE_LIMITED = "rate_limited"
REFUSED_PROTECTED = "refused_protected"
INVALID_TARGET = "invalid_target"
UNDO_PREFIX = "undo_"  # undo_ok, undo_failed, undo_dry_run

EXECUTED = (RUNNING, OK, FAILED)


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
            "time": dt.datetime.fromtimestamp(self.time, dt.UTC).isoformat().replace("+00:00", "Z"),
            "action": self.action,
            "target": self.target,
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "outcome": self.outcome,
            "dryRun": self.dry_run,
            "detail": self.detail,
        }


_COLUMNS = "id, time, action, target, fingerprint, alertname, outcome, dry_run, detail"


def _record(row: Sequence[Any]) -> Record:
    return Record(
        int(row[0]), float(row[1]), row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8]
    )


class ActionHistory:
    def __init__(self, store: StateStore) -> None:
        self.store = store

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
        with self.store.transaction() as db:
            cur = db.execute(
                "INSERT INTO action_history (time, action, target, fingerprint, alertname, outcome,"
                " dry_run, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time, action, target, fingerprint, alertname, outcome, int(dry_run), detail),
            )
            return int(cur.lastrowid or 0)

    def finish(self, record_id: int, outcome: str, detail: str) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE action_history SET outcome = ?, detail = ? WHERE id = ?",
                (outcome, detail, record_id),
            )

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
        return [float(r[0]) for r in rows]

    def last_run(self, action: str, target: str, dry_run: bool) -> float | None:
        outcomes = (*EXECUTED, DRY_RUN) if dry_run else EXECUTED
        rows = self.store.query(
            f"SELECT MAX(time) FROM action_history WHERE action = ? AND target = ?"
            f" AND outcome IN ({','.join('?' * len(outcomes))})",
            (action, target, *outcomes),
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def last_outcome(self, action: str, target: str, outcome: str) -> float | None:
        rows = self.store.query(
            "SELECT MAX(time) FROM action_history WHERE action = ? AND target = ? AND outcome = ?",
            (action, target, outcome),
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def count_all_since(self, since: float) -> int:
        """Runs (real or dry) of every action since `since`: the global per-minute cap."""
        rows = self.store.query(
            "SELECT COUNT(*) FROM action_history WHERE time >= ? AND outcome IN (?, ?, ?, ?)",
            (since, *EXECUTED, DRY_RUN),
        )
        return int(rows[0][0])

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
        return [_record(r) for r in rows]

    def target_records(self, action: str, target: str, since: float) -> list[Record]:
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM action_history WHERE action = ? AND target = ? AND time >= ?"
            " ORDER BY time, id",
            (action, target, since),
        )
        return [_record(r) for r in rows]

    def prune(self, before: float) -> int:
        """Forget records older than `before`; returns how many."""
        with self.store.transaction() as db:
            return int(db.execute("DELETE FROM action_history WHERE time < ?", (before,)).rowcount)
