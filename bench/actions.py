"""Cost of action decisions on the main loop (the work itself runs on worker threads).

With N firing alerts, each naming a `systemd` restart action on its own templated unit (a fake
unit controller, a real SQLite state store), prints:
  handle   N firing transitions decided and recorded (cooldown, limit and cap read from the store)
  tick     one `tick` over the N firing alerts while every target cools down (the per-second cost)
  notes    `notes(fingerprint)` for one alert (what a notification adds per alert)

    .venv/bin/python bench/actions.py [--alerts N]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=1000)
    n = ap.parse_args().alerts
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    (action,) = [
        a
        for a in (parse_action(MapReader(load_yaml(ACTION, "bench"), Problems()), (), Path()),)
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
                {"alertname": "Bench", "unit": f"u{i}.service"},
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
        ticks = []
        for _ in range(5):
            clock.advance(1)
            start = time.perf_counter()
            runner.tick(alerts, clock.now())
            ticks.append(time.perf_counter() - start)
        start = time.perf_counter()
        for a in alerts[:100]:
            runner.notes(a.fingerprint)
        notes = (time.perf_counter() - start) / 100
        runner.stop()
        store.close()
    print(f"actions: {n} firing alerts, one restart action each")
    print(
        f"  handle  {handled * 1000:8.1f} ms for {n} firing transitions ({handled / n * 1e6:.0f} us each)"
    )
    print(f"  tick    {min(ticks) * 1000:8.1f} ms (best of 5) while all {n} targets cool down")
    print(f"  notes   {notes * 1e6:8.0f} us per alert")


if __name__ == "__main__":
    main()
