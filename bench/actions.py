"""Cost of action decisions on the main loop (the work itself runs on worker threads).

With N firing alerts, each naming a `systemd` restart action on its own templated unit (a fake
unit controller, a real SQLite state store), prints:
  handle   N firing transitions decided and recorded (cooldown, limit and cap read from the store)
  tick     one `tick` over the N firing alerts while every target cools down (the per-second cost)
  notes    `notes(fingerprint)` for one alert (what a notification adds per alert)

`--storm`: the action has `verify: 1h`, two alerts share each unit (the second's decision is a
skip, recorded), the tick's main-loop CPU is the best of 5 by process time, and 1000 of the
alerts then resolve (`resolve`: each one's `handle`, main-loop CPU).

    .venv/bin/python bench/actions.py [--alerts N] [--storm]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog
from prometheus_client import CollectorRegistry

from alerter.actions import protected_set
from alerter.actions.config import parse_action
from alerter.actions.executors import SystemdExecutor
from alerter.actions.runner import ActionRunner
from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems
from alerter.rules.alert import Alert, Transition
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FakeUnitController, FixedClock

ACTION = "{name: restart, type: systemd, unit: '{{ labels.unit }}', cooldown: 5m}"
ACTION_STORM = ACTION[:-1] + ", verify: 1h}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--storm", action="store_true")
    args = ap.parse_args()
    n, storm = args.alerts, args.storm
    timer = time.process_time if storm else time.perf_counter
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    (action,) = [
        a
        for a in (
            parse_action(
                MapReader(load_yaml(ACTION_STORM if storm else ACTION, "bench"), Problems()),
                (),
                Path(),
            ),
        )
        if a is not None
    ]
    t0 = 1_700_000_000.0
    clock = FixedClock(t0)
    with tempfile.TemporaryDirectory() as d:
        store = StateStore(d)
        protected = protected_set(())
        runner = ActionRunner(
            [action],
            store=store,
            metrics=Metrics(CollectorRegistry()),
            clock=clock,
            emit=lambda ts: None,
            executors={"systemd": SystemdExecutor(FakeUnitController(), protected)},
            protected=protected,
            actions_per_minute=10 * n,
        )
        alerts = [
            Alert(
                {"alertname": "Bench", "unit": f"u{i // 2 if storm else i}.service", "n": str(i)},
                {},
                "firing",
                1.0,
                t0,
                actions=("restart",),
            )
            for i in range(n)
        ]
        start = time.perf_counter()
        runner.handle([Transition(t0, "pending", a) for a in alerts], t0)
        handled = time.perf_counter() - start
        runner.wait_idle(60)
        firing = tuple(alerts)  # as the daemon's: the same tuple while no alert changed
        ticks = []
        for _ in range(5):
            clock.advance(1)
            start = timer()
            runner.tick(firing, clock.now())
            ticks.append(timer() - start)
        start = time.perf_counter()
        for a in alerts[:100]:
            runner.notes(a.fingerprint)
        notes = (time.perf_counter() - start) / 100
        resolve = 0.0
        if storm:
            start = timer()
            for a in alerts[:1000]:
                runner.handle(
                    [Transition(clock.now(), "firing", replace(a, state="resolved"))], clock.now()
                )
            resolve = (timer() - start) / 1000
        runner.stop()
        store.close()
    print(f"actions: {n} firing alerts, one restart action each")
    print(
        f"  handle  {handled * 1000:8.1f} ms for {n} firing transitions ({handled / n * 1e6:.0f} us each)"
    )
    print(f"  tick    {min(ticks) * 1000:8.1f} ms (best of 5) while all {n} targets cool down")
    print(f"  notes   {notes * 1e6:8.0f} us per alert")
    if storm:
        print(f"  resolve {resolve * 1e6:8.0f} us per resolve (main-loop CPU)")


if __name__ == "__main__":
    main()
