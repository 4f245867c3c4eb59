"""The record of every ban in the state store (`bans`) and the bans in force: `BanBook`.

`alerter.actions.bans.BanExecutor` decides and applies bans; this is what it reads and writes.
A ban is one row: the address and ports, when it began and ends, whether it was lifted early,
the alert (or `manual`) that made it; a later ban of the same address and ports replaces it,
as its `add element` sets the kernel element's timeout anew.
"""

from __future__ import annotations

import heapq
import itertools
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog

from alerter.actions.banaddr import Address, family, parse_address
from alerter.rules.templates import rfc3339
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

MANUAL = "manual"  # the `action` of a ban added through the API or `alerter bans add`
RETENTION = 30 * 86400.0  # ended bans are kept at least this long (longer if an increment needs)

_COLUMNS = (
    "id, address, ports, time, until, lifted, action, fingerprint, alertname, dry_run, detail"
)
# the ban is the latest of its address and ports: a later one (a ban by hand over an alert's)
# replaced it, as its `add element` set the kernel element's timeout anew
_LATEST = (
    " AND NOT EXISTS (SELECT 1 FROM bans n WHERE n.address = bans.address"
    " AND n.ports = bans.ports AND n.dry_run = bans.dry_run"
    " AND (n.time > bans.time OR (n.time = bans.time AND n.id > bans.id)))"
)


@dataclass(frozen=True, slots=True)
class Ban:
    id: int
    address: Address
    ports: tuple[int, ...]
    time: float
    until: float
    action: str
    fingerprint: str = ""
    alertname: str = ""
    dry_run: bool = False
    detail: str = ""  # the sentence notes show, or a manual ban's comment
    lifted: float | None = None

    def in_force(self, now: float) -> bool:
        return self.lifted is None and self.until > now

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "address": str(self.address),
            "family": family(self.address),
            "ports": list(self.ports),
            "bannedAt": rfc3339(self.time),
            "endsAt": rfc3339(self.until),
            "remainingSeconds": round(max(0.0, self.until - now), 3) if self.in_force(now) else 0,
            "liftedAt": rfc3339(self.lifted) if self.lifted is not None else None,
            "action": self.action,
            "alertname": self.alertname,
            "fingerprint": self.fingerprint,
            "dryRun": self.dry_run,
            "detail": self.detail,
        }


def _row(r: Sequence[Any]) -> Ban:
    ports = tuple(int(p) for p in str(r[2]).split(",") if p)
    return Ban(
        id=int(r[0]),
        address=parse_address(r[1]),
        ports=ports,
        time=float(r[3]),
        until=float(r[4]),
        lifted=None if r[5] is None else float(r[5]),
        action=r[6],
        fingerprint=r[7],
        alertname=r[8],
        dry_run=bool(r[9]),
        detail=r[10],
    )


class BanBook:
    """Every ban in the state store, and the ones in force in memory. Thread-safe."""

    def __init__(self, store: StateStore, on_error: Callable[[str], None] | None = None) -> None:
        self.store = store
        self._on_error = on_error or (lambda operation: None)
        self._lock = threading.Lock()
        self._force: dict[tuple[Address, bool], Ban] = {}  # (address, dry run) -> newest ban
        self._sweep_at = 1024  # drop ended bans from _force once it holds this many
        # `count` without a walk of every ban (each ban decision asks it, up to max_bans deep):
        # the bans of _force counted in force, by (dry run, family), each until its end leaves
        # the heap (an entry whose key holds another ban since is stale)
        self._counted: dict[tuple[Address, bool], int] = {}  # key -> its entry's number
        self._live: Counter[tuple[bool, str]] = Counter()
        self._ends: list[tuple[float, int, tuple[Address, bool]]] = []
        self._numbers = itertools.count()

    def load(self, now: float) -> list[Ban]:
        """Read the bans in force from the store (at start); returns them."""
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM bans WHERE until > ? AND lifted IS NULL{_LATEST} ORDER BY time",
            (now,),
        )
        bans = []
        for r in rows:
            try:
                bans.append(_row(r))
            except ValueError:
                continue  # an address this version refuses: not re-applied
        with self._lock:
            for b in bans:
                self._hold(b)
        return bans

    def current(self, address: Address, dry: bool, now: float) -> Ban | None:
        with self._lock:
            b = self._force.get((address, dry))
        return b if b is not None and b.in_force(now) else None

    def in_force(self, now: float, dry: bool | None = None) -> list[Ban]:
        with self._lock:
            for k in [k for k, b in self._force.items() if not b.in_force(now)]:
                self._drop(k)
            return sorted(
                (b for b in self._force.values() if dry is None or b.dry_run == dry),
                key=lambda b: (b.time, b.id),
            )

    def count(self, now: float, dry: bool, fam: str | None = None) -> int:
        """Bans in force at `now` (a clock that does not go back: an ended ban is not counted
        again for an earlier `now`)."""
        with self._lock:
            self._end(now)
            if fam is not None:
                return self._live[(dry, fam)]
            return sum(n for (d, _), n in self._live.items() if d == dry)

    def held(self) -> int:
        """Bans kept in memory: those in force, and ended ones not swept yet."""
        with self._lock:
            return len(self._force)

    def earlier(self, address: Address, since: float, dry: bool) -> int:
        """Bans of `address` that started at or after `since` (dry ones count only in a dry run)."""
        sql = "SELECT COUNT(*) FROM bans WHERE address = ? AND time >= ?"
        rows = self.store.query(sql + ("" if dry else " AND dry_run = 0"), (str(address), since))
        return int(rows[0][0])

    def add(self, ban: Ban) -> Ban:
        """Record a ban and count it in force; returns it with its id (0 if the store refused)."""
        rid = 0
        try:
            with self.store.transaction() as db:
                cur = db.execute(
                    "INSERT INTO bans (address, ports, time, until, lifted, action, fingerprint,"
                    " alertname, dry_run, detail) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                    (
                        str(ban.address),
                        ",".join(map(str, ban.ports)),
                        ban.time,
                        ban.until,
                        ban.action,
                        ban.fingerprint,
                        ban.alertname,
                        int(ban.dry_run),
                        ban.detail,
                    ),
                )
                rid = int(cur.lastrowid or 0)
        except sqlite3.Error as e:
            self._refused("add", e)  # the kernel still has it; only a restart forgets it
        ban = replace(ban, id=rid)
        with self._lock:
            self._hold(ban)
            if len(self._force) >= self._sweep_at:  # amortised: ended bans do not pile up
                for k in [k for k, b in self._force.items() if not b.in_force(ban.time)]:
                    self._drop(k)
                self._sweep_at = max(1024, 2 * len(self._force))
        return ban

    def forget(self, ban: Ban) -> None:
        """The ban could not be applied: it never was, and counts for nothing."""
        with self._lock:
            if self._force.get((ban.address, ban.dry_run)) == ban:
                self._drop((ban.address, ban.dry_run))
        self._write("forget", "DELETE FROM bans WHERE id = ?", (ban.id,))

    def lift(self, address: Address, dry: bool, now: float) -> list[Ban]:
        """End every ban in force on `address` now; returns them, newest first (none: []).

        There can be more than one: a ban by hand on other ports than an alert's is recorded
        beside it. Lifting only the newest would leave the other's element in the kernel, and
        the store would put it back at the next start. The bans they replaced (a ban by hand
        over an alert's, on the same ports) are marked lifted with them: the alert's repeats
        leave the address alone (`lifted_by_hand`).
        """
        with self._lock:
            held = self._drop((address, dry))
        bans = [held] if held is not None and held.in_force(now) else []
        try:
            rows = self.store.query(
                f"SELECT {_COLUMNS} FROM bans WHERE address = ? AND dry_run = ?"
                f" AND lifted IS NULL AND until > ?{_LATEST} ORDER BY time DESC, id DESC",
                (str(address), int(dry), now),
            )
        except sqlite3.Error as e:  # the one in memory is lifted all the same
            self._refused("lift", e)
            rows = []
        bans += [b for b in map(_row, rows) if all(b.id != x.id for x in bans)]
        if not bans:
            return []
        self._write(
            "lift",
            "UPDATE bans SET lifted = ? WHERE address = ? AND dry_run = ?"
            " AND lifted IS NULL AND until > ?",
            (now, str(address), int(dry), now),
        )
        return [replace(b, lifted=now) for b in bans]

    def lifted_last(self, address: Address, ports: tuple[int, ...]) -> bool:
        """The latest ban (not a dry run's) of the address on these ports was lifted."""
        rows = self.store.query(
            "SELECT lifted FROM bans WHERE address = ? AND ports = ? AND dry_run = 0"
            " ORDER BY time DESC, id DESC LIMIT 1",
            (str(address), ",".join(map(str, ports))),
        )
        return bool(rows) and rows[0][0] is not None

    def lifted_by_hand(self, address: Address, dry: bool, fingerprint: str) -> bool:
        """The address's latest ban was lifted before its end (by hand, `alerter bans del` or
        the page), and a ban of this alert with it (its own, or one a ban by hand replaced):
        the alert's repeats must not ban it again."""
        rows = self.store.query(
            "SELECT 1 FROM bans WHERE address = ? AND dry_run = ? AND fingerprint = ?"
            " AND lifted = (SELECT lifted FROM bans WHERE address = ? AND dry_run = ?"
            " ORDER BY time DESC, id DESC LIMIT 1) LIMIT 1",
            (str(address), int(dry), fingerprint, str(address), int(dry)),
        )
        return bool(rows)

    def history(self, limit: int = 500) -> list[Ban]:
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM bans ORDER BY time DESC, id DESC LIMIT ?", (limit,)
        )
        out = []
        for r in rows:
            try:
                out.append(_row(r))
            except ValueError:
                continue
        return out

    def prune(self, before: float) -> None:
        self._write("prune", "DELETE FROM bans WHERE until < ? AND time < ?", (before, before))

    # --- the bans held in memory, and their count (under the lock) ----------------------

    def _end(self, now: float) -> None:
        """Take the bans ended at `now` out of the count, and stale entries off the heap's top."""
        ends = self._ends
        while ends and (ends[0][0] <= now or self._counted.get(ends[0][2]) != ends[0][1]):
            _, number, key = heapq.heappop(ends)
            if self._counted.get(key) == number:
                self._uncount(key)

    def _hold(self, ban: Ban) -> None:
        key = (ban.address, ban.dry_run)
        self._drop(key)
        self._force[key] = ban
        if ban.lifted is None:
            number = next(self._numbers)
            self._counted[key] = number
            self._live[(ban.dry_run, family(ban.address))] += 1
            heapq.heappush(self._ends, (ban.until, number, key))
            if len(self._ends) > 2 * len(self._counted) + 1024:  # stale entries: compact
                self._ends = [e for e in self._ends if self._counted.get(e[2]) == e[1]]
                heapq.heapify(self._ends)

    def _drop(self, key: tuple[Address, bool]) -> Ban | None:
        self._uncount(key)
        return self._force.pop(key, None)

    def _uncount(self, key: tuple[Address, bool]) -> None:
        if self._counted.pop(key, None) is not None:
            self._live[(key[1], family(key[0]))] -= 1

    def _write(self, operation: str, sql: str, params: Sequence[Any]) -> None:
        try:
            with self.store.transaction() as db:
                db.execute(sql, params)
        except sqlite3.Error as e:
            self._refused(operation, e)

    def _refused(self, operation: str, error: sqlite3.Error) -> None:
        self._on_error(operation)
        log.error("state_write_failed", part="bans", operation=operation, error=str(error))
