"""The engine's state in the store, written in pieces, and only the pieces that changed.

A snapshot (`Engine.snapshot(lazy=True)`) is a JSON document in which a log rule's key tables
are `Rows` (alerter.rules.rows): made on demand, in pieces of PIECE items. The store holds:
- `kv ("engine", "state")`: the head, `{"doc": <the document without its Rows>, "rows":
  [[path, pieces], ...]}`, path being the dict keys that lead to each Rows;
- `kv ("engine.rows", "[...path, i]")`: piece i of the Rows at path, a JSON list.
A piece is encoded, written and freed before the next is made, within the checkpoint's
transaction (at 200k keys the whole list, built at once, was 77 MB of objects plus a 25 MB
string; the changed pieces' JSON, kept until the transaction, still 20 MB of the daemon's
163-176 MB peak). A piece whose encoding is the same as the store's (by its BLAKE2 digest) is
not written again, nor is an unchanged head: a table that only grows at its end rewrites its
last pieces. Pieces past a table's end and tables that are gone are deleted in the same
transaction.

The first write of a process replaces whatever the store held (the previous process's rows, or
a snapshot in the older single-row format, `("engine", "snapshot")`, which `read_snapshot`
still reads).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

import structlog

from alerter.rules.rows import Rows
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

HEAD_KEY = ("engine", "state")
LEGACY_KEY = ("engine", "snapshot")  # the whole document in one row (before pieces)
ROWS = "engine.rows"  # the kv namespace of the pieces
PIECE = 2000  # items a piece

Path = tuple[str, ...]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _split(doc: Any, path: Path, found: list[tuple[Path, Rows]]) -> Any:
    """`doc` without its Rows (each noted in `found` with its path; an empty list in its place)."""
    if isinstance(doc, Mapping):
        out: dict[str, Any] = {}
        for k, v in doc.items():
            if isinstance(v, Rows):
                found.append(((*path, k), v))
                out[k] = []
            else:
                out[k] = _split(v, (*path, k), found)
        return out
    return doc


class Prepared:
    """One snapshot for a commit: the document without its Rows (and each Rows with its path),
    then, once written, its head and the digests the store then holds."""

    def __init__(self, doc: Any, found: list[tuple[Path, Rows]]) -> None:
        self.doc = doc
        self.found = found
        self.head = ""
        self.digests: dict[str, bytes] = {}  # row key -> digest, every piece of this snapshot
        self.pieces_written = 0  # the pieces the store did not hold


class SnapshotWriter:
    """The engine state's side of the checkpoint: `prepare` outside the transaction, `write`
    inside it (each piece encoded there), `written` once it is known whether the store took it."""

    def __init__(self) -> None:
        self._head: str | None = None  # the head the store holds (None: not known)
        self._digests: dict[str, bytes] | None = None  # likewise, for every piece
        self._pending: Prepared | None = None

    def prepare(self, doc: Mapping[str, Any]) -> Prepared:
        """The document's Rows set apart (nothing encoded yet)."""
        found: list[tuple[Path, Rows]] = []
        return Prepared(_split(doc, (), found), found)

    def write(self, db: sqlite3.Connection, p: Prepared) -> None:
        """Within the checkpoint's transaction: each piece encoded, and written when the store
        does not hold it, one at a time."""
        first = self._digests is None
        if first:  # the first write: whatever the store held goes
            db.execute("DELETE FROM kv WHERE namespace = ?", (ROWS,))
            db.execute("DELETE FROM kv WHERE namespace = ? AND key = ?", LEGACY_KEY)
        old = self._digests or {}
        digests = p.digests
        tables: list[list[Any]] = []

        def changed() -> Iterator[tuple[str, str, str]]:
            for path, rows in p.found:
                n = 0
                for n, piece in enumerate(rows.pieces(PIECE), 1):
                    key = _dumps([*path, n - 1])
                    text = _dumps(piece)
                    d = digests[key] = _digest(text)
                    if old.get(key) != d:
                        p.pieces_written += 1
                        yield ROWS, key, text
                tables.append([list(path), n])

        db.executemany(
            "INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)", changed()
        )
        if not first:
            gone = old.keys() - digests.keys()
            db.executemany(
                "DELETE FROM kv WHERE namespace = ? AND key = ?", [(ROWS, k) for k in gone]
            )
        p.head = _dumps({"doc": p.doc, "rows": tables})
        if p.head != self._head:
            db.execute(
                "INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)",
                (*HEAD_KEY, p.head),
            )
        self._pending = p

    def written(self, ok: bool) -> None:
        """The transaction of the last `write` was committed (ok) or rolled back."""
        p, self._pending = self._pending, None
        if ok and p is not None:
            self._head, self._digests = p.head, p.digests


def read_snapshot(store: StateStore, lazy: bool = False) -> Any:
    """The engine state last written (None if there is none), with its Rows as lists; `lazy`
    (the daemon's start): as Rows that read their pieces one at a time when iterated, so that
    restoring 200k keys never holds them all decoded at once."""
    head = store.kv_get(*HEAD_KEY)
    if head is None:
        return store.kv_get(*LEGACY_KEY)
    doc = head["doc"]
    for path, n in head["rows"]:
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        rows = _stored_rows(store, path, n)
        parent[path[-1]] = rows if lazy else list(rows)
    return doc


def _stored_rows(store: StateStore, path: list[str], n: int) -> Rows:
    """The Rows at `path`: its n pieces, each read from the store when it is reached."""

    def make() -> Iterator[Any]:
        # one int object for each number (a window's bucket: the same for most keys), as the
        # engine that wrote them had: 28 bytes a key less at 200k keys
        ints: dict[str, int] = {}
        decoder = json.JSONDecoder(parse_int=lambda t: ints.get(t) or ints.setdefault(t, int(t)))
        for i in range(n):
            piece = store.kv_get(ROWS, _dumps([*path, i]), decoder.decode)
            if piece is None:  # cannot happen (one transaction); if it does, say so
                log.warning("engine_state_piece_missing", path=path, piece=i)
                continue
            yield from piece

    return Rows(make)
