"""The engine state in the store, in pieces: what is read back is what was written, only the
pieces that changed are written again, and a refused commit leaves the store's pieces known."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from alerter.rules.engine import Engine
from alerter.rules.rows import Rows, materialize
from alerter.store.db import StateStore
from alerter.store.snapshots import LEGACY_KEY, PIECE, ROWS, SnapshotWriter, read_snapshot
from tests.rules.helpers import engine

RULE = """
groups:
  - name: ssh
    rules:
      - alert: SSHBruteForce
        logs:
          source: auth
          match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 3"
        max_keys: 100000
"""
IDENT = "ssh/0/SSHBruteForce"


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


def commit(store: StateStore, w: SnapshotWriter, doc: dict[str, Any]) -> int:
    """Write `doc` as the checkpoint does; the number of pieces written."""
    p = w.prepare(doc)
    with store.transaction() as db:
        w.write(db, p)
    w.written(True)
    return p.pieces_written


def pieces(store: StateStore) -> int:
    return int(store.query("SELECT COUNT(*) FROM kv WHERE namespace = ?", (ROWS,))[0][0])


def doc(items: list[Any], **more: Any) -> dict[str, Any]:
    return {"version": 1, "rules": {"r": {"window": {"keys": Rows(lambda: iter(items))}}}, **more}


def with_keys(n: int, start: int = 0) -> Engine:
    """The rule's engine holding n keys (restored: no dependence on how lines reach it)."""
    e = engine(RULE)
    snap = e.snapshot()
    snap["rules"][IDENT]["window"]["keys"] = [
        [[f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"], [[1000 + i % 7, 1 + i % 2], [f"l{i}"]]]
        for i in range(start, start + n)
    ]
    e.restore(snap, 1000.0)
    return e


def test_an_engine_with_more_keys_than_a_piece_reads_back_as_its_whole_snapshot(
    store: StateStore,
) -> None:
    e = with_keys(2 * PIECE + 17)
    lazy = e.snapshot(lazy=True)
    assert isinstance(lazy["rules"][IDENT]["window"]["keys"], Rows)
    assert materialize(lazy) == e.snapshot()
    commit(store, SnapshotWriter(), lazy)
    assert pieces(store) == 3
    back = read_snapshot(store)
    assert back == e.snapshot()
    again = engine(RULE)
    again.restore(back, 1000.0)
    assert again.snapshot() == e.snapshot()  # same keys, same order (the next evicted)


def test_read_lazily_the_pieces_are_read_as_the_engine_restores_them(store: StateStore) -> None:
    """The daemon's start: each table a Rows that reads its pieces from the store one at a
    time, restoring the same engine; each number one object, as in the engine that wrote it."""
    e = with_keys(2 * PIECE + 17)
    commit(store, SnapshotWriter(), e.snapshot(lazy=True))
    back = read_snapshot(store, lazy=True)
    keys = back["rules"][IDENT]["window"]["keys"]
    assert isinstance(keys, Rows)
    first = next(keys.pieces(PIECE))
    assert len(first) == PIECE
    assert first[0][1][0][0] is first[7][1][0][0]  # bucket 1000 of two keys: one int object
    again = engine(RULE)
    again.restore(back, 1000.0)
    assert again.snapshot() == e.snapshot()
    assert materialize(read_snapshot(store, lazy=True)) == read_snapshot(store)


def test_only_changed_pieces_are_written_again(store: StateStore) -> None:
    items = [[i, "x"] for i in range(3 * PIECE)]
    w = SnapshotWriter()
    assert commit(store, w, doc(items)) == 3
    assert commit(store, w, doc(items)) == 0  # nothing changed, nothing written
    items.append([-1, "new"])  # a table growing at its end: its last piece
    assert commit(store, w, doc(items)) == 1
    items[5] = [5, "changed"]
    assert commit(store, w, doc(items)) == 1
    assert read_snapshot(store) == materialize(doc(items))


def test_pieces_past_a_shorter_table_and_of_gone_tables_are_deleted(store: StateStore) -> None:
    w = SnapshotWriter()
    commit(store, w, doc([[i] for i in range(3 * PIECE)], other={"t": Rows(lambda: iter([1]))}))
    assert pieces(store) == 4
    commit(store, w, doc([[i] for i in range(PIECE // 2)]))
    assert pieces(store) == 1
    assert read_snapshot(store) == materialize(doc([[i] for i in range(PIECE // 2)]))
    commit(store, w, doc([]))
    assert pieces(store) == 0
    assert read_snapshot(store) == {"version": 1, "rules": {"r": {"window": {"keys": []}}}}


def test_a_new_process_replaces_the_rows_and_the_older_single_row_snapshot(
    store: StateStore,
) -> None:
    store.kv_put(*LEGACY_KEY, {"version": 1, "rules": {"old": {}}})
    assert read_snapshot(store) == {"version": 1, "rules": {"old": {}}}  # still read
    commit(store, SnapshotWriter(), doc([[i] for i in range(2 * PIECE)]))
    assert store.kv_get(*LEGACY_KEY) is None
    commit(store, SnapshotWriter(), doc([[1]]))  # the next process: the store's rows unknown
    assert pieces(store) == 1
    assert read_snapshot(store) == materialize(doc([[1]]))


def test_after_a_refused_commit_the_next_one_writes_what_the_store_lacks(
    store: StateStore,
) -> None:
    w = SnapshotWriter()
    items: list[list[object]] = [[i] for i in range(2 * PIECE)]
    commit(store, w, doc(items))
    items[0] = ["changed"]
    p = w.prepare(doc(items))
    with pytest.raises(sqlite3.OperationalError), store.transaction() as db:
        w.write(db, p)
        raise sqlite3.OperationalError("database or disk is full")
    w.written(False)
    assert read_snapshot(store) == materialize(doc([[i] for i in range(2 * PIECE)]))
    assert commit(store, w, doc(items)) == 1  # the refused piece again
    assert read_snapshot(store) == materialize(doc(items))
