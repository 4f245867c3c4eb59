"""Main-loop CPU of the parts of the actions' tick that a storm's size reached: check_verify over
N verify entries and OutcomeRecorder.trim over N skips per tick (best of 4 after the first, which
holds the verify sweep), and a resolve (Firings.resolved past N firing starts, with
forget_verify). Copy it into an older tree to compare.

    .venv/bin/python bench/actions_parts.py N
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Container
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog
from prometheus_client import CollectorRegistry

from alerter.actions import history as h
from alerter.actions.escalation import Escalator
from alerter.actions.executors import ActionPlan
from alerter.actions.firings import Firings
from alerter.actions.outcomes import OutcomeRecorder
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from tests.alerter.actions.conftest import T0, alert, parse_actions

ACTIONS = """
actions:
  - {name: restart, type: systemd, unit: "{{ labels.unit }}", cooldown: 5m, verify: 1h}
"""


class Firing(Container[str]):
    """As the daemon's: the set of firing fingerprints is built at the first lookup."""

    def __init__(self, fingerprints: list[str]) -> None:
        self.fingerprints = fingerprints
        self.built: set[str] | None = None

    def __contains__(self, fingerprint: object) -> bool:
        if self.built is None:
            self.built = set(self.fingerprints)
        return fingerprint in self.built


def main() -> None:
    n = int(sys.argv[1])
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    (action,) = parse_actions(ACTIONS)
    alerts = [alert(["restart"], unit=f"u{i}.service") for i in range(n)]
    fingerprints = [a.fingerprint for a in alerts]
    with tempfile.TemporaryDirectory() as d:
        store = StateStore(Path(d) / "state")
        history = h.ActionHistory(store)
        esc = Escalator(
            {"restart": action},
            store=store,
            history_db=history,
            emit=lambda ts: None,
            dry_run=False,
        )
        recorder = OutcomeRecorder(history, Metrics(CollectorRegistry()))
        recorder.record = lambda *args: None  # type: ignore[method-assign]  # (no rows: the skips)
        firings = Firings(store, lambda operation: None)
        for i, a in enumerate(alerts):
            esc.watch(ActionPlan(action, a.labels["unit"], a), "restarted", T0)
            recorder.skip(action, a.labels["unit"], a, h.SKIPPED_COOLDOWN, "", T0, False)
            firings.fired(a.fingerprint, T0 + i * 1e-3, False, active_at=T0)
        ticks = []
        for i in range(1, 6):
            start = time.process_time()
            esc.check_verify(Firing(fingerprints), T0 + i)
            recorder.trim(T0 + i)
            ticks.append(time.process_time() - start)
        start = time.process_time()
        for a in alerts[-1000:]:
            firings.resolved(a.fingerprint, T0 + 10, active_at=T0)
            esc.forget_verify(a.fingerprint)
        resolve = (time.process_time() - start) / 1000
        store.close()
    print(f"actions' tick parts: {n} verify entries, skips and firing starts")
    print(
        f"  tick    {min(ticks[1:]) * 1000:8.2f} ms (best of 4; the first {ticks[0] * 1000:.1f} ms)"
    )
    print(f"  resolve {resolve * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
