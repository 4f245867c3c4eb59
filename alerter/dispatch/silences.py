"""Silences with Alertmanager's semantics and v2 JSON shape, persisted in the state store.

A silence mutes the alerts all its matchers match between startsAt and endsAt. States:
pending (not started), active, expired. Expired silences are kept for `RETENTION` so they
can be listed, then removed.

Matching an alert does not try every silence: the silences not yet expired are indexed by their
equality matchers, or by their regex matchers in one RE2 Set per label name
(alerter/dispatch/silenceindex.py, regexset.py), so the cost per alert does not grow with the
number of silences that have one; only silences with neither (negative or empty-matching
matchers only) are tried for every alert.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from alerter.dispatch.silenceindex import SilenceIndex
from alerter.notifiers.model import rfc3339
from alerter.state import StateStore
from rules.matchers import Matcher, Op, matches_all

SilenceState = Literal["pending", "active", "expired"]
RETENTION = 5 * 86400.0  # Alertmanager's default --data.retention


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> SilenceState:
        if now >= self.ends_at:
            return "expired"
        if now < self.starts_at:
            return "pending"
        return "active"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.starts_at <= now < self.ends_at and matches_all(self.matchers, labels)

    def to_api(self, now: float) -> dict[str, Any]:
        """Alertmanager v2 gettableSilence."""
        return {
            "id": self.id,
            "status": {"state": self.state(now)},
            "updatedAt": rfc3339(self.updated_at),
            "matchers": [
                {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                for m in self.matchers
            ],
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
        }


def parse_time(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected an RFC 3339 time such as 2024-05-01T12:00:00Z")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{what}: {value!r} is not an RFC 3339 time (e.g. 2024-05-01T12:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"{what}: {value!r} has no time zone (append Z for UTC)")
    return dt.timestamp()


def silence_from_api(data: Any, now: float) -> Silence:
    """A postableSilence (JSON) -> Silence, validated as Alertmanager does. ValueError says why."""
    if not isinstance(data, dict):
        raise ValueError(
            "expected a JSON object with matchers, startsAt, endsAt, createdBy, comment"
        )
    raw = data.get("matchers")
    if not isinstance(raw, list) or not raw:
        raise ValueError("matchers: at least one matcher is required")
    matchers = []
    for i, m in enumerate(raw):
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("name"), str)
            or not isinstance(m.get("value"), str)
        ):
            raise ValueError(f"matchers[{i}]: expected {{name, value, isRegex, isEqual}}")
        is_regex, is_equal = bool(m.get("isRegex", False)), bool(m.get("isEqual", True))
        op: Op = ("=~" if is_equal else "!~") if is_regex else ("=" if is_equal else "!=")
        matchers.append(Matcher.create(m["name"], op, m["value"]))
    if all(m.matches({}) for m in matchers):
        raise ValueError(
            "matchers: at least one matcher must not match the empty string "
            "(a silence must not match every alert)"
        )
    starts = parse_time(data.get("startsAt"), "startsAt") if data.get("startsAt") else now
    ends = parse_time(data.get("endsAt"), "endsAt")
    if ends <= starts:
        raise ValueError("endsAt must be after startsAt")
    created_by, comment = data.get("createdBy"), data.get("comment")
    if not isinstance(created_by, str) or not created_by.strip():
        raise ValueError("createdBy: say who creates the silence")
    if not isinstance(comment, str) or not comment.strip():
        raise ValueError("comment: say why the alerts are silenced")
    sid = data.get("id") or ""
    return Silence(str(sid), tuple(matchers), max(starts, now), ends, created_by, comment, now)


def _to_store(s: Silence) -> str:
    return json.dumps(
        {
            "matchers": [[m.name, m.op, m.value] for m in s.matchers],
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "created_by": s.created_by,
            "comment": s.comment,
            "updated_at": s.updated_at,
        }
    )


def _from_store(sid: str, text: str) -> Silence:
    d = json.loads(text)
    return Silence(
        sid,
        tuple(Matcher.create(n, op, v) for n, op, v in d["matchers"]),
        d["starts_at"],
        d["ends_at"],
        d["created_by"],
        d["comment"],
        d["updated_at"],
    )


class SilenceNotFound(KeyError):
    pass


class Silences:
    """The silences of this host; thread-safe (the API thread writes, the main loop reads)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._by_id = {
            sid: _from_store(sid, data)
            for sid, data in store.query("SELECT id, data FROM silences")
        }
        # the silences that may still mute (expired ones leave at expire() and gc()), and each
        # silence's place in _by_id: matches are listed in that order, as a full scan lists them
        self._index: SilenceIndex[Silence] = SilenceIndex()
        self._order: dict[str, int] = {}
        self._next = itertools.count()
        for s in self._by_id.values():
            self._file(s)

    def add(self, s: Silence, now: float) -> str:
        """Create, or update the silence with `s.id` (an expired one is replaced by a new id)."""
        with self._lock:
            if s.id:
                old = self._by_id.get(s.id)
                if old is None:
                    raise SilenceNotFound(s.id)
                if old.state(now) == "expired":
                    s = replace(s, id="")
                elif old.state(now) == "active":
                    s = replace(s, starts_at=old.starts_at)
            if not s.id:
                s = replace(s, id=str(uuid.uuid4()))
            self._save(s)
            return s.id

    def expire(self, sid: str, now: float) -> Silence:
        with self._lock:
            s = self._by_id.get(sid)
            if s is None:
                raise SilenceNotFound(sid)
            if s.state(now) != "expired":
                s = replace(s, starts_at=min(s.starts_at, now), ends_at=now, updated_at=now)
                self._save(s)
            self._index.remove(sid)
            return s

    def get(self, sid: str) -> Silence | None:
        with self._lock:
            return self._by_id.get(sid)

    def all(self) -> list[Silence]:
        with self._lock:
            return sorted(self._by_id.values(), key=lambda s: (s.ends_at, s.id))

    def muted_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        """The ids of the silences muting an alert with `labels` at `now`, oldest first."""
        with self._lock:
            hits = [s for s in self._index.candidates(labels) if s.mutes(labels, now)]
            if len(hits) > 1:
                order = self._order
                hits.sort(key=lambda s: order[s.id])
            return [s.id for s in hits]

    def gc(self, now: float) -> int:
        """Drop silences expired for longer than RETENTION; expired ones leave the index."""
        with self._lock:
            for sid, s in self._by_id.items():
                if s.ends_at <= now:
                    self._index.remove(sid)
            old = [sid for sid, s in self._by_id.items() if s.ends_at < now - RETENTION]
            if old:
                with self._store.transaction() as db:
                    db.executemany("DELETE FROM silences WHERE id = ?", [(sid,) for sid in old])
                for sid in old:
                    del self._by_id[sid]
                    del self._order[sid]
            return len(old)

    def _save(self, s: Silence) -> None:
        with self._store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO silences (id, ends_at, data) VALUES (?, ?, ?)",
                (s.id, s.ends_at, _to_store(s)),
            )
        self._by_id[s.id] = s
        self._file(s)

    def _file(self, s: Silence) -> None:
        if s.id not in self._order:
            self._order[s.id] = next(self._next)
        self._index.add(s)
