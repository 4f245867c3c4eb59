"""The daemon's once-a-second tick, in process: `Engine.alerts()` over N firing alerts.

Each tick every alert's value (and newest example) changes, as in a brute-force storm, or
nothing changes (`--still`). The daemon lists the alerts each tick for the alert gauge and the
actions' repeat check, which read states and fingerprints only; the API and web page read
annotations. Prints wall and CPU milliseconds a tick, for the listing alone and with every
alert's annotations read too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from functools import partial

from alerter.rules.alert import Transition
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files

RULES = """
groups:
  - name: ssh
    rules:
      - alert: SSHBruteForce
        logs: {match: 'Failed password for .* from (?P<ip>\\S+)'}
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 5"
        annotations:
          summary: "{{ labels.ip }} failed {{ value }} SSH logins in 10m"
          description: "Last attempts: {{ examples | join(' | ') }}"
"""


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=4000)
    ap.add_argument("--ticks", type=int, default=30)
    ap.add_argument("--still", action="store_true", help="values and examples do not change")
    args = ap.parse_args(argv)
    e = Engine(load_rule_files([("t.yaml", RULES)], default_interval=15), {"host": "h"})
    table = e._groups[0].rules[0].table
    keys = [(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",) for i in range(args.alerts)]
    out: list[Transition] = []

    def step(t: int) -> None:
        for k in keys:
            n = 5 + (0 if args.still else t)
            ex = [f"Failed password for root from {k[0]} port {p}" for p in range(n - 3, n)]
            table.step(k, True, float(n), float(t), out, partial(dict, ip=k[0]), ex)

    step(0)
    e.alerts()  # the first listing of each alert renders it in any design
    listing: list[tuple[float, float]] = []
    reading: list[tuple[float, float]] = []
    for t in range(1, args.ticks + 1):
        step(t)
        w, c = time.perf_counter(), time.process_time()
        alerts = e.alerts()
        firing = sum(1 for a in alerts if a.state == "firing")
        listing.append((time.perf_counter() - w, time.process_time() - c))
        w, c = time.perf_counter(), time.process_time()
        chars = sum(len(v) for a in alerts for v in a.annotations.values())
        reading.append((time.perf_counter() - w, time.process_time() - c))
        assert firing == args.alerts and chars > 0
    for name, xs in (("listing (the tick)", listing), ("then reading annotations", reading)):
        print(
            f"{name:<26} {args.alerts} alerts: wall median "
            f"{statistics.median(x[0] for x in xs) * 1000:.1f} ms, CPU median "
            f"{statistics.median(x[1] for x in xs) * 1000:.1f} ms a tick"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
