"""The dispatcher's ticks while nothing changes: what N firing alerts cost the main loop a second.

The daemon's main loop calls the dispatcher's tick every 0.1 s. N firing alerts, one group per
alert (`group_by: [host]`), are handed to a dispatcher in process, the first flush sent, and
then ten simulated seconds of ticks (100, 0.1 s of its clock apart) are timed:

  webhook        a webhook receiver (group_interval 5m: no group is due in that second)
  alertmanager   an alertmanager receiver (no group_interval: Alertmanager groups; a group is
                 pushed at once on a transition and otherwise looked at once a second, RECHECK)

Prints milliseconds of main loop a second for each, and for alertmanager the ratio to one look
at every group (the median tick of those that looked): looks a second, just under 1 now
(a look 1 s after the last, at the next tick).
Until 2026-12-06 an Alertmanager group was looked at every tick: 10 looks, 130 ms a second at
2,000 alerts on this machine.

    .venv/bin/python bench/dispatch_tick.py [--alerts 2000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems
from alerter.dispatch import NotificationDispatcher
from alerter.dispatch.config import parse_route
from alerter.notifiers.config import parse_notifier
from alerter.rules.alert import Alert, Transition
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FixedClock, RecordingNotifier

T0 = 1_700_000_000.0
NOTIFIERS = {
    "webhook": "{name: rec, type: webhook, url: 'http://127.0.0.1:9/hook'}",
    "alertmanager": "{name: rec, type: alertmanager, urls: ['http://127.0.0.1:9/']}",
}
SECONDS = 10  # simulated, of ticks
ROUTE = "{receiver: rec, group_by: [host], group_wait: 0s, group_interval: 5m}"


def dispatcher(store: StateStore, clock: FixedClock, kind: str) -> NotificationDispatcher:
    p = Problems(env={})
    notifier = parse_notifier(MapReader(load_yaml(NOTIFIERS[kind], "n.yaml"), p, "n"), Path("."))
    r = MapReader(load_yaml(ROUTE, "r.yaml"), p, "route")
    route = parse_route(r, ["rec"], r.mark, p, [])
    p.raise_if_any()
    assert notifier is not None
    return NotificationDispatcher(
        route=route,
        inhibit_rules=[],
        notifiers={"rec": (notifier, RecordingNotifier("rec"))},
        store=store,
        metrics=Metrics(CollectorRegistry()),
        clock=clock,
        action_notes=lambda fingerprint: [],
        external_url="http://127.0.0.1:9753",
        own_commits=False,
    )


def per_second(kind: str, n: int) -> tuple[float, float]:
    """(seconds of main loop that one second of ticks takes; seconds of a tick that looked at
    every group, the median of those that cost over a third of the longest)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp))
        clock = FixedClock(T0)
        d = dispatcher(store, clock, kind)
        try:
            alerts = [
                Alert(
                    {"alertname": "HostDown", "host": f"h{i}"}, {}, "firing", 1.0, T0, fired_at=T0
                )
                for i in range(n)
            ]
            d.handle([Transition(T0, "pending", a) for a in alerts], T0)
            ticks = []
            for _ in range(10 * SECONDS):
                clock.advance(0.1)
                t = time.perf_counter()
                d.tick(clock.now())
                ticks.append(time.perf_counter() - t)
            looks = [t for t in ticks if t > max(ticks) / 3]  # the ticks that looked at all
            second, look = sum(ticks) / SECONDS, sorted(looks)[len(looks) // 2]
            return second, look
        finally:
            d.stop(wait=False)
            store.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=2000)
    args = ap.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    web, _ = per_second("webhook", args.alerts)
    am, look = per_second("alertmanager", args.alerts)
    print(f"dispatcher ticks, {args.alerts:,} firing alerts, a group each, nothing changing:")
    print(f"  webhook       {web * 1e3:7.1f} ms of main loop a second")
    print(
        f"  alertmanager  {am * 1e3:7.1f} ms of main loop a second = {am / look:.1f} looks at "
        f"every group ({look * 1e3:.1f} ms each)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
