"""Cost of opening the state store, most of it `PRAGMA quick_check` (alerter/store/statedir.py).

Fills a state.db of about --mb megabytes (action history, outbox, key/value documents, positions:
the tables that grow), then prints the median of a few runs of:
  check    find_corruption(): a read-only connection and `PRAGMA quick_check`
  open     StateStore(dir) + close(): the check, the read-write open, the schema check
The page cache is warm (the file was just written); a cold start also reads the file once.

    .venv/bin/python bench/state_open.py [--mb 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerter.store.db import StateStore
from alerter.store.statedir import find_corruption


def fill(store: StateStore, mb: int) -> None:
    detail = json.dumps({"stdout": "x" * 300, "argv": ["systemctl", "restart", "nginx"]})
    payload = json.dumps({"alerts": [{"labels": {"alertname": "A", "n": i}} for i in range(8)]})
    n = 0
    while store.path.stat().st_size < mb * 1024 * 1024:
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO action_history (time, action, target, fingerprint, alertname,"
                " outcome, dry_run, detail) VALUES (?, 'restart', ?, ?, 'A', 'ok', 0, ?)",
                [(n + i, f"unit{i % 500}", f"fp{(n + i) % 5000}", detail) for i in range(5000)],
            )
            db.executemany(
                "INSERT INTO outbox (notifier, created, next_attempt, payload)"
                " VALUES ('slack', ?, ?, ?)",
                [(n + i, n + i, payload) for i in range(1000)],
            )
        store.kv_put_many("engine", {f"k{n + i}": {"v": "y" * 200} for i in range(1000)})
        store.save_positions("auth", {f"/var/log/f{n + i}.log": "1:2:abc:100" for i in range(200)})
        n += 5000
        store.query("PRAGMA wal_checkpoint(TRUNCATE)")


def timed(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        store = StateStore(d)
        fill(store, args.mb)
        store.close()
        size = (Path(d) / "state.db").stat().st_size / 1024 / 1024
        check = timed(lambda: find_corruption(Path(d) / "state.db"), args.runs)
        opened = timed(lambda: StateStore(d).close(), args.runs)
    print(f"state.db {size:.1f} MB: check {check * 1000:.0f} ms, open {opened * 1000:.0f} ms")


if __name__ == "__main__":
    main()
