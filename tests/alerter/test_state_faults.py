"""The state store opens safely: a damaged database is moved aside (with its -wal/-shm) and a
fresh one started; problems the user can fix are StateErrors naming the path; a second daemon
on the same state dir is refused."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

import alerter.store.db
from alerter.errors import StateError
from alerter.store.db import SCHEMA_VERSION, StateStore

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
Events = list[MutableMapping[str, Any]]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Events]:
    with structlog.testing.capture_logs() as logs:
        # a fresh logger: the module's may be cached with an earlier configuration
        monkeypatch.setattr(alerter.store.db, "log", structlog.get_logger("alerter.store.db"))
        yield logs


def _fill(store: StateStore, tag: str = "old") -> None:
    """A row in every table that the loss would matter for."""
    store.save_positions("auth", {"/var/log/auth.log": f"1:2:{tag}:100"})
    store.kv_put("engine", "snapshot", {"alerts": [tag]})
    with store.transaction() as db:
        db.execute(
            "INSERT INTO outbox (notifier, created, next_attempt, payload) VALUES ('s', 1, 1, ?)",
            (tag,),
        )
        db.execute("INSERT INTO silences VALUES (?, 9e9, '{}')", (tag,))


def _assert_fresh(store: StateStore) -> None:
    assert store.schema_version == SCHEMA_VERSION
    assert store.load_positions("auth") == {}
    assert store.kv_get("engine", "snapshot") is None
    assert store.query("SELECT count(*) FROM outbox") == [(0,)]
    assert store.query("SELECT count(*) FROM silences") == [(0,)]


def _crash_image(store: StateStore, dest: Path) -> None:
    """Copy the store's files as a daemon killed now would leave them (WAL not checkpointed)."""
    dest.mkdir()
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        shutil.copyfile(store.dir / name, dest / name)


def _moved(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("state.db.corrupt-*"))}


def _corrupt_event(events: Events) -> MutableMapping[str, Any]:
    found = [e for e in events if e["event"] == "state_store_corrupt"]
    assert len(found) == 1, events
    ev = found[0]
    assert ev["log_level"] == "error"
    assert ev["lost"] == "positions, alert state, outbox, silences, action history"
    assert "starting with an empty state" in ev["next"]
    return ev


def test_garbage_file_is_moved_aside_and_a_fresh_store_starts(
    tmp_path: Path, events: Events
) -> None:
    garbage = b"this is not an SQLite database\n" * 500
    (tmp_path / "state.db").write_bytes(garbage)
    store = StateStore(tmp_path)
    _assert_fresh(store)
    moved = _moved(tmp_path)
    assert list(moved.values()) == [garbage]
    (name,) = moved
    assert re.fullmatch(r"state\.db\.corrupt-\d{8}T\d{6}Z", name)
    ev = _corrupt_event(events)
    assert ev["path"] == str(tmp_path / "state.db")
    assert ev["moved_to"] == str(tmp_path / name)
    assert "not a database" in ev["problem"]


def test_corruption_met_while_migrating_also_moves_the_store_aside(
    tmp_path: Path, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damage that quick_check does not look for surfaces as an error on the read-write open."""
    monkeypatch.setattr(alerter.store.db, "find_corruption", lambda db: None)
    (tmp_path / "state.db").write_bytes(b"garbage" * 1000)
    store = StateStore(tmp_path)
    _assert_fresh(store)
    assert list(_moved(tmp_path).values()) == [b"garbage" * 1000]
    assert _corrupt_event(events)["problem"] == "file is not a database"


def test_torn_page_is_moved_aside_with_its_wal_and_shm(tmp_path: Path, events: Events) -> None:
    live = StateStore(tmp_path / "live")
    for i in range(200):
        live.kv_put("engine", f"doc{i}", {"alerts": ["x" * 200]})
    live.query("PRAGMA wal_checkpoint(TRUNCATE)")
    _fill(live)  # in the WAL only
    d = tmp_path / "crashed"
    _crash_image(live, d)
    live.close()
    db = d / "state.db"
    pages = db.stat().st_size // 4096
    with db.open("r+b") as f:  # a page in the middle half-written: garbage over it
        f.seek(pages // 2 * 4096)
        f.write(b"\xff" * 4096)
    before = {n: (d / n).read_bytes() for n in ("state.db", "state.db-wal")}

    store = StateStore(d)

    _assert_fresh(store)
    moved = _moved(d)
    (name,) = (n for n in moved if n.endswith("Z"))
    assert set(moved) == {name, f"{name}-wal", f"{name}-shm"}
    # the database and its log as found (the -shm is an index SQLite rebuilds from the log)
    assert moved[name] == before["state.db"]
    assert moved[f"{name}-wal"] == before["state.db-wal"]
    assert _corrupt_event(events)["moved_to"] == str(d / name)


def test_empty_state_db_beside_a_wal_is_moved_aside_not_half_restored(
    tmp_path: Path, events: Events
) -> None:
    live = StateStore(tmp_path / "live")
    _fill(live, "checkpointed")
    live.query("PRAGMA wal_checkpoint(TRUNCATE)")
    _fill(live, "in-wal")
    d = tmp_path / "crashed"
    _crash_image(live, d)
    live.close()
    os.truncate(d / "state.db", 0)
    wal = (d / "state.db-wal").read_bytes()
    assert wal  # the log holds committed transactions SQLite would silently delete

    store = StateStore(d)

    _assert_fresh(store)
    (name,) = (n for n in _moved(d) if n.endswith("Z"))
    assert (d / name).stat().st_size == 0
    assert (d / f"{name}-wal").read_bytes() == wal
    assert "empty but its write-ahead log is not" in _corrupt_event(events)["problem"]


def test_state_db_truncated_under_an_open_store_does_not_come_back_half(
    tmp_path: Path, events: Events
) -> None:
    store = StateStore(tmp_path)
    for i in range(200):
        store.kv_put("engine", f"doc{i}", {"alerts": ["x" * 200]})
    store.query("PRAGMA wal_checkpoint(TRUNCATE)")
    _fill(store)
    store.kv_put_many("groups", {f"g{i}": "y" * 300 for i in range(100)})  # grows the file
    os.truncate(tmp_path / "state.db", 0)
    store.close()  # the checkpoint writes the WAL's pages, only those, into the empty file
    assert (tmp_path / "state.db").stat().st_size > 0

    reopened = StateStore(tmp_path)

    _assert_fresh(reopened)
    assert reopened.kv_items("groups") == {}
    assert len([n for n in _moved(tmp_path) if n.endswith("Z")]) == 1
    _corrupt_event(events)


def test_empty_state_db_without_a_wal_starts_fresh_with_a_warning(
    tmp_path: Path, events: Events
) -> None:
    (tmp_path / "state.db").write_bytes(b"")
    store = StateStore(tmp_path)
    _assert_fresh(store)
    assert _moved(tmp_path) == {}
    assert [(e["event"], e["log_level"]) for e in events] == [
        ("state_store_found_empty", "warning")
    ]


def test_sound_store_with_a_wal_left_by_a_killed_daemon_keeps_every_row(
    tmp_path: Path, events: Events
) -> None:
    live = StateStore(tmp_path / "live")
    _fill(live)
    d = tmp_path / "crashed"
    _crash_image(live, d)
    live.close()
    store = StateStore(d)
    assert store.load_positions("auth") == {"/var/log/auth.log": "1:2:old:100"}
    assert store.query("SELECT payload FROM outbox") == [("old",)]
    assert _moved(d) == {}
    assert events == []


def test_state_dir_that_is_a_file_is_an_error_naming_it_and_nothing_is_moved(
    tmp_path: Path,
) -> None:
    (tmp_path / "state").write_text("keep me")
    with pytest.raises(StateError, match=rf"cannot create state dir {tmp_path}/state: .*global"):
        StateStore(tmp_path / "state")
    assert (tmp_path / "state").read_text() == "keep me"


def test_second_locked_store_on_a_dir_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = StateStore(tmp_path, lock=True)
    _fill(first)
    assert (tmp_path / "lock").read_text() == f"{os.getpid()}\n"
    with pytest.raises(StateError) as e:
        StateStore(tmp_path, lock=True)
    assert str(e.value) == (
        f"state dir {tmp_path} is in use by another alerter (pid {os.getpid()}): stop it or "
        "set global.state_dir to another directory"
    )
    inspector = StateStore(tmp_path)  # tests and CLI helpers do not take the lock
    assert inspector.load_positions("auth") == {"/var/log/auth.log": "1:2:old:100"}
    inspector.close()
    first.close()
    assert (tmp_path / "lock").read_text() == ""
    second = StateStore(tmp_path, lock=True)
    assert second.load_positions("auth") == {"/var/log/auth.log": "1:2:old:100"}
    second.close()


# --- real processes -------------------------------------------------------------------------

HOLD_LOCK = """
import sys
from alerter.store.db import StateStore
from alerter.store.statedir import StateDirLock
if sys.argv[2] == "store":
    StateStore(sys.argv[1], lock=True)
else:
    StateDirLock.acquire(__import__("pathlib").Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder() -> Iterator[Any]:
    """Start a process that holds the lock of a state dir (as `store` or bare `lock`)."""
    procs: list[subprocess.Popen[str]] = []

    def start(state_dir: Path, how: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(state_dir), how],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, 9)
        p.wait()


@pytest.mark.integration
def test_lock_held_by_another_process_names_its_pid_and_dies_with_it(
    tmp_path: Path, holder: Any
) -> None:
    daemon = holder(tmp_path, "store")
    with pytest.raises(StateError) as e:
        StateStore(tmp_path, lock=True)
    assert str(e.value) == (
        f"state dir {tmp_path} is in use by another alerter (pid {daemon.pid}): stop it or "
        "set global.state_dir to another directory"
    )
    os.kill(daemon.pid, 9)
    daemon.wait()
    assert (tmp_path / "lock").read_text() == f"{daemon.pid}\n"  # left behind, stale
    store = StateStore(tmp_path, lock=True)
    assert (tmp_path / "lock").read_text() == f"{os.getpid()}\n"
    store.close()


@pytest.mark.integration
def test_corrupt_store_is_not_moved_from_under_a_running_daemon(
    tmp_path: Path, holder: Any
) -> None:
    daemon = holder(tmp_path, "lock")
    (tmp_path / "state.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(StateError) as e:
        StateStore(tmp_path)
    assert str(e.value).startswith(f"{tmp_path}/state.db is corrupt (file is not a database)")
    assert f"in use by another alerter (pid {daemon.pid})" in str(e.value)
    assert (tmp_path / "state.db").read_bytes() == b"garbage" * 1000
    assert _moved(tmp_path) == {}


OPEN_AS_NOBODY = f"""
import os, sys
from alerter.errors import StateError
from alerter.store.db import StateStore
os.setgid({NOBODY})
os.setuid({NOBODY})
try:
    StateStore(sys.argv[1]).close()
except StateError as e:
    print(e)
else:
    print("opened")
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory user nobody can reach (pytest's tmp_path is private to root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: opens the store as user nobody (in CI a skip fails the run)")
    d = Path(tempfile.mkdtemp(prefix="alerter-state-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)


def _open_as_nobody(state_dir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", OPEN_AS_NOBODY, str(state_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.integration
def test_permission_problems_are_errors_naming_the_path_and_nothing_is_moved(
    shared_dir: Path,
) -> None:
    root_dir = shared_dir / "root-owned"
    root_dir.mkdir(mode=0o755)
    assert _open_as_nobody(root_dir) == (
        f"state dir {root_dir} is not writable by the user alerter runs as (uid {NOBODY}; "
        "read-only file system or permissions): fix its owner or mode, or set "
        "global.state_dir to a writable directory"
    )
    assert _open_as_nobody(root_dir / "sub") == (
        f"cannot create state dir {root_dir}/sub: Permission denied: create it writable by the "
        f"user alerter runs as (uid {NOBODY}) or set global.state_dir to a writable directory"
    )

    own_dir = shared_dir / "nobody-owned"
    store = StateStore(own_dir)
    _fill(store)
    store.close()
    os.chown(own_dir, NOBODY, NOBODY)
    (own_dir / "state.db").chmod(0o644)  # root's file: readable, not writable, by nobody
    assert _open_as_nobody(own_dir) == (
        f"{own_dir}/state.db is not readable and writable by the user alerter runs as "
        f"(uid {NOBODY}): fix its owner or mode, or set global.state_dir to a writable directory"
    )
    assert _moved(own_dir) == {} and _moved(root_dir) == {}
    assert StateStore(own_dir).load_positions("auth") == {"/var/log/auth.log": "1:2:old:100"}
