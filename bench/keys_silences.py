"""Bounded work per key and per alert: key eviction past `max_keys`, silence matching.

Everything is measured in one run, each figure as a ratio against a baseline of the same run:

  eviction   per line, a rule `by: [ip]` whose lines churn through 10 x max_keys addresses (a
             new key and an eviction on every line) against lines over max_keys addresses
             already held (no new key, no eviction), and against the same churn with max_keys
             large enough that nothing is evicted (isolates the eviction itself). Three paths:
             `keyed` (count by a regex group: keys gathered per batch), `per-line` (an
             `exclude` makes the engine observe each line), `new_value` (its seen table).
  silences   2,000 alerts matched against 5,000 silences against the same with 50 silences:
             equality silences (alertname + instance), a mix with 2% regex-only ones, and
             regex-only silences (`instance=~"db<i>-.*", severity!="info"`; a fifth of the
             alerts are on db0-db49, each muted by one silence in both sets). The naive scan (every silence tried per alert, as
             before the index) is printed for the same sets, and for the regex case the first
             match after the silences were added (it builds the RE2 Set).

    .venv/bin/python bench/keys_silences.py [--max-keys N] [--lines N] [--alerts N]
                                            [--silences-only]

Goals: eviction churn / no churn near 1x (the O(1) eviction adds no more than a new key costs);
silences 5,000 / 50 near 1x for equality and regex matchers.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerter.core.events import LogBatch
from alerter.dispatch.silences import Silence, Silences
from alerter.rules.engine import Engine
from alerter.rules.enginehooks import NoHooks
from alerter.rules.loader import load_rule_files
from alerter.rules.matchers import Matcher
from alerter.store.db import StateStore

BATCH = 1000
T0 = 1_700_000_000.0

RULES = {
    "keyed": """
groups:
  - name: g
    rules:
      - alert: Brute
        logs:
          source: auth
          match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 1000000"
        max_keys: {max_keys}
""",
    "per-line": """
groups:
  - name: g
    rules:
      - alert: Brute
        logs:
          source: auth
          match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'
          exclude: 'from 10\\.'
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 1000000"
        max_keys: {max_keys}
""",
    "new_value": """
groups:
  - name: g
    rules:
      - alert: NewIP
        logs:
          source: auth
          match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'
        aggregate: new_value
        field: ip
        by: [user]
        lookback: 1d
        over: 1m
        max_keys: {max_keys}
""",
}


def batch(lines: list[str]) -> LogBatch:
    """A batch of one source, as the engine takes a collector's (parser none)."""
    return LogBatch("auth", 0.0, None, lines)


def ip(i: int) -> str:
    return f"{(i >> 24) & 255}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def batches(keys: int, n: int, start: int = 0) -> list[LogBatch]:
    """n lines cycling over `keys` addresses, from address `start` on."""
    out, cur = [], []
    for j in range(n):
        cur.append(f"sshd[1]: Failed password for root from {ip(1 + (start + j) % keys)} port 22")
        if len(cur) == BATCH:
            out.append(batch(cur))
            cur = []
    if cur:
        out.append(batch(cur))
    return out


class Evictions(NoHooks):
    """The engine's hooks, counting evicted keys (the others do nothing, as NoHooks's)."""

    def __init__(self) -> None:
        self.n = 0

    def key_evicted(self, alertname: str, count: int, reason: str) -> None:
        self.n += count


def per_line(kind: str, max_keys: int, keyspace: int, warm: int, lines: int) -> tuple[float, int]:
    """Seconds per line over `lines` lines cycling through `keyspace` addresses, after `warm`
    lines that fill the keys; and how many keys were evicted while measured."""
    rs = load_rule_files([("b.yaml", RULES[kind].format(max_keys=max_keys))], default_interval=15)
    hooks = Evictions()
    e = Engine(rs, {}, hooks)
    now = T0
    for b in batches(keyspace, warm):
        now += 0.001
        e.process(b, now)
    todo = batches(keyspace, lines, warm)
    before = hooks.n
    t = time.perf_counter()
    for b in todo:
        now += 0.001
        e.process(b, now)
    return (time.perf_counter() - t) / lines, hooks.n - before


def eviction(max_keys: int, lines: int) -> None:
    print(f"eviction: max_keys {max_keys:,}, {lines:,} lines measured per case")
    for kind in RULES:
        held, _ = per_line(kind, max_keys, max_keys, max_keys, lines)
        churn, evicted = per_line(kind, max_keys, 10 * max_keys, max_keys, lines)
        fresh, _ = per_line(kind, 100 * max_keys, 10 * max_keys, max_keys, lines)
        print(
            f"  {kind:9}  held {held * 1e6:6.2f} us/line   churn {churn * 1e6:6.2f} us/line "
            f"({evicted:,} evicted)   churn, none evicted {fresh * 1e6:6.2f} us/line"
        )
        print(
            f"  {'':9}  churn / held {churn / held:5.2f}x   "
            f"churn / churn-without-eviction {churn / fresh:5.2f}x"
        )


def silence(sid: int, matchers: Iterable[Matcher]) -> Silence:
    return Silence("", tuple(matchers), T0 - 60, T0 + 3600, "bench", f"bench {sid}", T0)


def silence_sets(n: int, regex_share: float, rnd: random.Random) -> list[Silence]:
    out = []
    for i in range(n):
        if rnd.random() < regex_share:
            ms = [
                Matcher.create("instance", "=~", f"db{i}-.*"),
                Matcher.create("severity", "!=", "info"),
            ]
        else:
            ms = [
                Matcher.create("alertname", "=", f"A{rnd.randrange(20)}"),
                Matcher.create("instance", "=", f"host{rnd.randrange(100_000)}"),
            ]
        out.append(silence(i, ms))
    return out


def alerts(n: int, rnd: random.Random, db_share: float = 0.0) -> list[dict[str, str]]:
    return [
        {
            "alertname": f"A{rnd.randrange(20)}",
            "instance": (
                f"db{rnd.randrange(50)}-{rnd.randrange(10)}"  # muted by one silence either way
                if rnd.random() < db_share
                else f"host{rnd.randrange(100_000)}"
            ),
            "severity": "warning",
            "job": "node",
            "host": "h1",
        }
        for _ in range(n)
    ]


def timed(fn: Callable[[], object], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def match(s: Silences, labels: list[dict[str, str]]) -> list[list[str]]:
    return [s.muted_by(a, T0 + 1) for a in labels]


def naive(s: Silences, labels: list[dict[str, str]]) -> list[list[str]]:
    """Every silence tried per alert (the matching before the index)."""
    everything = s.all()
    return [[x.id for x in everything if x.mutes(a, T0 + 1)] for a in labels]


def matching(
    labels: list[dict[str, str]], sets: Mapping[int, list[Silence]], first: bool = False
) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = StateStore(d)
        times: dict[int, tuple[float, float, float]] = {}
        for n, ss in sets.items():
            with store.transaction() as db:
                db.execute("DELETE FROM silences")
            s = Silences(store)
            for x in ss:
                s.add(x, T0)
            once = timed(partial(s.muted_by, labels[0], T0 + 1), 1)
            times[n] = (timed(partial(match, s, labels)), timed(partial(naive, s, labels), 1), once)
            got = match(s, labels)
            assert got == naive(s, labels), "the index answers what the naive scan answers"
            muted = sum(bool(x) for x in got)
            print(f"    {n:>5,} silences: {muted:,} of {len(labels):,} alerts muted")
        store.close()
    (small, (si, sn, s1)), (big, (bi, bn, b1)) = sorted(times.items())
    print(f"    {small:>5,} silences: indexed {si * 1e3:7.1f} ms   naive {sn * 1e3:8.1f} ms")
    print(f"    {big:>5,} silences: indexed {bi * 1e3:7.1f} ms   naive {bn * 1e3:8.1f} ms")
    print(f"    {big:,} / {small:,}: indexed {bi / si:5.2f}x   naive {bn / sn:6.2f}x")
    if first:
        print(
            f"    first match after adding them (builds the Set): {small:,} {s1 * 1e3:.1f} ms"
            f"   {big:,} {b1 * 1e3:.1f} ms"
        )


def silences(n_alerts: int) -> None:
    rnd = random.Random(11)
    labels = alerts(n_alerts, rnd)
    for name, share in (("equality", 0.0), ("2% regex-only", 0.02)):
        print(f"silences: {n_alerts:,} alerts, {name}")
        matching(labels, {50: silence_sets(50, share, rnd), 5000: silence_sets(5000, share, rnd)})
    print(f"silences: {n_alerts:,} alerts (a fifth on db instances), regex-only")
    labels = alerts(n_alerts, rnd, db_share=0.2)
    matching(
        labels, {50: silence_sets(50, 1.0, rnd), 5000: silence_sets(5000, 1.0, rnd)}, first=True
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-keys", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--alerts", type=int, default=2000)
    ap.add_argument("--silences-only", action="store_true", help="skip the eviction figures")
    args = ap.parse_args()
    if not args.silences_only:
        eviction(args.max_keys, args.lines)
    silences(args.alerts)


if __name__ == "__main__":
    main()
