"""The SQLite state store: schema migrations, WAL, positions, key/value documents."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from alerter.errors import StateError
from alerter.store import db
from alerter.store.db import SCHEMA_VERSION, StateStore


def test_new_store_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s")
    assert store.schema_version == SCHEMA_VERSION
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"positions", "kv", "outbox", "silences", "action_history"} <= tables


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    s = StateStore(tmp_path)
    s.save_positions("auth", {"/var/log/auth.log": "1:2:abc:100"})
    s.kv_put("engine", "snapshot", {"alerts": [1, 2]})
    s.close()
    s2 = StateStore(tmp_path)
    assert s2.load_positions("auth") == {"/var/log/auth.log": "1:2:abc:100"}
    assert s2.kv_get("engine", "snapshot") == {"alerts": [1, 2]}


def test_store_from_a_newer_alerter_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer than this alerter"):
        StateStore(tmp_path)


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StateError, match=r"set global\.state_dir to a writable directory"):
        StateStore(tmp_path / "file" / "sub")


def test_positions_replace_and_delete(tmp_path: Path) -> None:
    s = StateStore(tmp_path)
    s.save_positions("c", {"a": "1", "b": "2"})
    s.save_positions("c", {"a": "3"})
    s.save_positions("other", {"a": "9"})
    s.delete_positions("c", ["b"])
    assert s.load_positions("c") == {"a": "3"}
    assert s.load_positions("other") == {"a": "9"}


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    s = StateStore(tmp_path)
    with pytest.raises(RuntimeError), s.transaction() as db:
        db.execute("INSERT INTO kv VALUES ('n', 'k', '1')")
        raise RuntimeError("boom")
    assert s.kv_get("n", "k") is None


def test_a_bounded_query_reads_rows_until_their_sizes_reach_the_budget(tmp_path: Path) -> None:
    """The outbox reads a lane's rows ahead this way: a backlog of notifications of megabytes
    each is not read into memory together. The rows after the budget are not read at all."""
    store = StateStore(tmp_path)
    store.kv_put_many("n", {f"k{i}": "x" * 10 for i in range(5)})
    sql = "SELECT key, value FROM kv WHERE namespace = ? ORDER BY key"
    read: list[str] = []

    def size(row: tuple[object, ...]) -> int:
        read.append(str(row[0]))
        return len(str(row[1]))

    assert [r[0] for r in store.query_bounded(sql, ("n",), 25, size)] == ["k0", "k1", "k2"]
    assert read == ["k0", "k1", "k2"]
    assert len(store.query_bounded(sql, ("n",), 1, size)) == 1  # at least one row
    assert len(store.query_bounded(sql, ("n",), 1000, size)) == 5


def test_kv_put_many_replace_all(tmp_path: Path) -> None:
    s = StateStore(tmp_path)
    s.kv_put_many("groups", {"a": 1, "b": 2})
    s.kv_put_many("groups", {"c": 3}, replace_all=True)
    assert s.kv_items("groups") == {"c": 3}


def test_a_database_deleted_while_open_is_put_back_with_everything_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDENTITY_EVERY", 0.0)
    store = StateStore(tmp_path)
    store.kv_put("ns", "before", 1)
    for name in ("state.db", "state.db-wal", "state.db-shm"):  # rm state.db*
        (tmp_path / name).unlink(missing_ok=True)
    with capture_logs() as logs:
        store.kv_put("ns", "after", 2)
    assert [e["event"] for e in logs] == ["state_store_file_gone"] and logs[0]["restored"]
    assert (tmp_path / "state.db").exists()
    store.kv_put("ns", "later", 3)
    store.close()
    again = StateStore(tmp_path)
    assert again.kv_items("ns") == {"before": 1, "after": 2, "later": 3}
    again.close()
