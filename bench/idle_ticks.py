"""A log rule's periodic tick over many idle keys: CPU per tick of an engine holding N keys
seen once each (spread over the window's first tenth), none firing, none updated again.

    .venv/bin/python bench/idle_ticks.py [--keys N] [--ticks T] [--leaving]
                                         [--aggregate sum|quantile|count|absent|spike]

Each tick is one second after the last (the group's interval), a little after the lines (no
bucket leaves the hour's window then), or with `--leaving` an hour after the first lines:
each tick finds N/360 keys whose bucket left it (forgotten). absent (over 1h, forget_after 2h):
the keys fire an hour after their line, so `--leaving` finds N/360 firing per tick; spike
(over 30m, its span the hour, the engine started a span before the lines): none fires.
Also the CPU per line of feeding them (each line a new key).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files

RULES = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: Busy
        logs: {{match: 'req key=(?P<key>\\S+) v=(?P<v>\\S+)'}}
        aggregate: {aggregate}
        over: 1h
        by: [key]
{extra}"""
TH = '        threshold: "> 1000000"\n'
EXTRA = {
    "sum": TH + "        field: v\n",
    "quantile": TH + "        field: v\n        q: 0.9\n",
    "count": TH,
    "absent": "        forget_after: 2h\n",
    "spike": "        factor: 1000\n",
}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--aggregate", choices=sorted(EXTRA), default="sum")
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--leaving", action="store_true", help="tick as the keys leave the window")
    args = ap.parse_args(argv)
    rules = RULES.format(aggregate=args.aggregate, extra=EXTRA[args.aggregate])
    if args.aggregate == "spike":
        rules = rules.replace("over: 1h", "over: 30m")  # (its span: the hour)
    e = Engine(load_rule_files([("t.yaml", rules)], default_interval=15), {})
    t0 = 100_000.0
    e.tick(t0 - 3600.0 if args.aggregate == "spike" else t0)  # (spike: fires a span after)
    step = 360.0 / args.keys  # the keys' lines over the window's first tenth
    fed = 0.0
    for start in range(0, args.keys, 1000):
        evs = [
            LogEvent(t0 + i * step, "app", f"req key=k{i} v={i % 7}")
            for i in range(start, min(start + 1000, args.keys))
        ]
        batch = LogBatch.of_events("app", evs[-1].time, evs)
        c0 = time.process_time()
        e.process(batch, evs[-1].time)
        fed += time.process_time() - c0
    now = t0 + 400.0
    e.tick(now)  # (the first tick after lines: the sweep files every key)
    if args.leaving:
        now = t0 + 3600.0 + 30.0  # (a bucket is 30 s wide)
    cpu: list[float] = []
    for k in range(1, args.ticks + 1):
        c0 = time.process_time()
        e.tick(now + k)
        cpu.append(time.process_time() - c0)
    keys = len(e._log_rules[0].keys)
    print(
        f"{args.aggregate} {args.keys} keys ({keys} left): tick CPU median "
        f"{statistics.median(cpu) * 1e3:.3f} ms, mean {statistics.fmean(cpu) * 1e3:.3f} ms; "
        f"the lines {fed / args.keys * 1e6:.2f} us CPU each"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
