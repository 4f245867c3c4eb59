r"""Silences with Alertmanager's semantics and v2 JSON shape, persisted in the state store.

A silence mutes the alerts all its matchers match between startsAt and endsAt. States:
pending (not started), active, expired. Expired silences are kept for `RETENTION` so they
can be listed, then removed.

Limits, as Alertmanager's `--silences.max-silences` and `--silences.max-silence-size-bytes`
(which it leaves unlimited by default; here they have defaults, so that no client of the API
can make matching or memory grow without bound): at most `MAX_SILENCES` active and pending
silences (a new one past it is refused; updating one in place is not), each at most
`MAX_SILENCE_BYTES` as stored and `MAX_REGEX_PROGRAM` RE2 instructions over its regexes (what
RE2 keeps of it compiled: `db1-.*` is 15 of them, `[a-z]{1000}` 1,000, `\pL+` 1,200), and
`MAX_REGEX_PROGRAM_TOTAL` over all active and pending silences (each instruction is ~60 bytes
held by the matcher's regex, and again in the RE2 Set of the index: 10,000 silences at the
per-silence limit would hold ~5 GB). Of the expired ones, kept for listing, only the
`MAX_SILENCES` that ended last are kept before RETENTION.

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

import re2  # type: ignore[import-untyped]
import structlog

from alerter.core.values import LABEL_NAME
from alerter.dispatch.regexset import re2_text
from alerter.dispatch.silenceindex import SilenceIndex
from alerter.notifiers.model import rfc3339
from alerter.rules.matchers import Matcher, Op, matches_all
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)
SilenceState = Literal["pending", "active", "expired"]
RETENTION = 5 * 86400.0  # Alertmanager's default --data.retention
MAX_SILENCES = 10_000  # active and pending ones
MAX_SILENCE_BYTES = 16 << 10  # as stored: matchers, times, createdBy, comment
MAX_REGEX_PROGRAM = 10_000  # RE2 instructions over a silence's regexes
MAX_REGEX_PROGRAM_TOTAL = 1_000_000  # over all active and pending silences (~60 MB)


class SilenceLimitError(ValueError):
    """A silence refused by one of the limits; the message says which and what to do."""


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
    if not isinstance(raw, list):
        raise ValueError('matchers: expected a list like [{"name": "alertname", "value": "X"}]')
    if not raw:
        raise ValueError("matchers: at least one matcher is required")
    matchers = []
    for i, m in enumerate(raw):
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("name"), str)
            or not isinstance(m.get("value"), str)
        ):
            raise ValueError(f"matchers[{i}]: expected {{name, value, isRegex, isEqual}}")
        is_regex, is_equal = m.get("isRegex", False), m.get("isEqual", True)
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise ValueError(f"matchers[{i}]: isRegex and isEqual are true or false")
        if not LABEL_NAME.match(m["name"]):  # as Alertmanager: it matches no label
            raise ValueError(f"matchers[{i}].name: {m['name']!r} is not a valid label name")
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
    if ends <= now:  # as Alertmanager ("end time can't be in the past"): it would silence nothing
        raise ValueError("endsAt must be in the future")
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


def _load(store: StateStore) -> dict[str, Silence]:
    """The stored silences; one whose regex this version refuses (rules/matchers.py: a regex
    that compiled only inside `^(?:...)$`, such as `a)|(b`) is left out and logged, not fatal."""
    out = {}
    for sid, data in store.query("SELECT id, data FROM silences"):
        try:
            out[sid] = _from_store(sid, data)
        except ValueError as e:
            log.warning("silence_not_loaded", silence=sid, error=str(e))
    return out


class SilenceNotFound(KeyError):
    pass


_RE2_OPTIONS = re2.Options()  # one object: google-re2's cache of compiled regexes (128) is
_RE2_OPTIONS.log_errors = False  # keyed by it, so a pattern measured again is not compiled again


def regex_program_size(matchers: tuple[Matcher, ...]) -> int:
    """RE2 instructions of the regexes of `matchers`, as RE2 compiles them."""
    total = 0
    for m in matchers:
        if m.regex is not None:
            rx = re2.compile(re2_text(m.regex.pattern, m.regex.flags), _RE2_OPTIONS)
            total += int(rx.programsize)
    return total


class Silences:
    """The silences of this host; thread-safe (the API thread writes, the main loop reads)."""

    def __init__(self, store: StateStore, max_silences: int = MAX_SILENCES) -> None:
        self.max_silences = max_silences
        self._store = store
        self._program: dict[str, int] = {}  # id -> regex_program_size, computed when needed
        self._lock = threading.Lock()
        self._by_id = _load(store)
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
            creating = not s.id
            program = self._check(s, creating, now)
            if creating:
                s = replace(s, id=str(uuid.uuid4()))
            self._save(s)
            self._program[s.id] = program
            if creating and len(self._by_id) > 2 * self.max_silences:
                self._trim_expired(now)
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
        """Drop silences expired for longer than RETENTION, and the expired ones past the
        `max_silences` that ended last; expired ones leave the index. Returns how many."""
        with self._lock:
            for sid, s in self._by_id.items():
                if s.ends_at <= now:
                    self._index.remove(sid)
            old = [sid for sid, s in self._by_id.items() if s.ends_at < now - RETENTION]
            self._drop(old)
            before = len(self._by_id)
            self._trim_expired(now)
            return len(old) + before - len(self._by_id)

    def _check(self, s: Silence, creating: bool, now: float) -> int:
        """Raise SilenceLimitError when `s` may not be stored; else its regex program size."""
        live = [x for x in self._by_id.values() if x.ends_at > now and x.id != s.id]
        if creating and len(live) >= self.max_silences:
            raise SilenceLimitError(
                f"exceeded maximum number of silences: {len(live)} active or pending "
                f"(limit: {self.max_silences}); expire some first"
            )
        size = len(_to_store(s).encode())
        if size > MAX_SILENCE_BYTES:
            raise SilenceLimitError(
                f"silence too large: {size} bytes (limit: {MAX_SILENCE_BYTES}); "
                "shorten its comment or its matchers"
            )
        program = regex_program_size(s.matchers)
        if program > MAX_REGEX_PROGRAM:
            raise SilenceLimitError(
                f"silence regexes too complex: {program} RE2 instructions "
                f"(limit: {MAX_REGEX_PROGRAM}); long alternations, wide repeats ({{m,n}}) "
                "and Unicode classes cost most: split the silence or simplify its regexes"
            )
        total = program + sum(self._program_of(x) for x in live)
        if total > MAX_REGEX_PROGRAM_TOTAL:
            raise SilenceLimitError(
                f"regexes of all silences too complex: {total} RE2 instructions with this "
                f"one in active and pending silences (limit: {MAX_REGEX_PROGRAM_TOTAL}); "
                "expire some or simplify their regexes"
            )
        return program

    def _program_of(self, s: Silence) -> int:
        got = self._program.get(s.id)
        if got is None:  # loaded from the store
            got = self._program[s.id] = regex_program_size(s.matchers)
        return got

    def _trim_expired(self, now: float) -> None:
        """Keep the `max_silences` expired silences that ended last (the lock is held)."""
        expired = sorted((x.ends_at, sid) for sid, x in self._by_id.items() if x.ends_at <= now)
        excess = len(expired) - self.max_silences
        if excess > 0:
            self._drop([sid for _, sid in expired[:excess]])

    def _drop(self, sids: list[str]) -> None:
        if not sids:
            return
        with self._store.transaction() as db:
            db.executemany("DELETE FROM silences WHERE id = ?", [(sid,) for sid in sids])
        for sid in sids:
            self._index.remove(sid)
            del self._by_id[sid]
            del self._order[sid]
            self._program.pop(sid, None)

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
