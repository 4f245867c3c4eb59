"""The skips and the cap's refusals an hour old are forgotten oldest first, once there are many,
instead of a copy of them all at every tick (a storm's 10k+ skips were copied each second); the
same ones as the copy forgot, so a skip in a cooldown over an hour is recorded again when it was."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerter.actions import history as h
from alerter.actions import outcomes
from alerter.actions.outcomes import OutcomeRecorder
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

from .conftest import T0, CountedWalks, alert, parse_actions

ACTIONS = """
actions:
  - {name: long, type: systemd, unit: "{{ labels.unit }}", cooldown: 2h}
  - {name: short, type: systemd, unit: "{{ labels.unit }}", cooldown: 1m}
"""


class TrimByCopy(OutcomeRecorder):
    """The trim as it was (the oracle): past `keep` entries, a copy of those under an hour old
    at every tick."""

    keep = 10_000

    def trim(self, now: float) -> None:
        self.tell_held()
        if len(self._skips) > self.keep:
            self._skips = {k: v for k, v in self._skips.items() if now - v < 3600}
        if len(self._refusals) > self.keep:
            with self._refusals_lock:
                kept = {
                    fp: {a: r for a, r in by_action.items() if now - r.time < 3600}
                    for fp, by_action in self._refusals.items()
                }
                self._refusals = {fp: by_action for fp, by_action in kept.items() if by_action}


def _recorder(store: StateStore, cls: type[OutcomeRecorder]) -> OutcomeRecorder:
    return cls(h.ActionHistory(store), Metrics(CollectorRegistry()))


def test_a_tick_past_10k_skips_walks_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path / "state")
    try:
        recorder = _recorder(store, OutcomeRecorder)
        monkeypatch.setattr(recorder, "record", lambda *args: None)  # (10k rows: slow)
        (action, _) = parse_actions(ACTIONS)
        for i in range(10_100):
            a = alert(["long"], unit=f"u{i}.service")
            recorder.skip(action, f"u{i}", a, h.SKIPPED_COOLDOWN, "", T0 + i / 10, False)
        recorder._skips = counted = CountedWalks(recorder._skips)
        for i in range(1, 60):
            recorder.trim(T0 + 1000 + i)  # none an hour old
        recorder.trim(T0 + 3600 + 5)  # the first 51 are (T0 .. T0 + 5)
        assert counted.walks == 0
        assert len(recorder._skips) == 10_100 - 51
    finally:
        store.close()


@pytest.mark.parametrize("seed", range(20))
def test_the_trim_forgets_what_the_copy_forgot(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    keep = rng.randint(2, 8)
    monkeypatch.setattr(outcomes, "KEEP", keep)
    stores = [StateStore(tmp_path / "new"), StateStore(tmp_path / "old")]
    new, old = _recorder(stores[0], OutcomeRecorder), _recorder(stores[1], TrimByCopy)
    old.keep = keep  # type: ignore[attr-defined]
    actions = parse_actions(ACTIONS)
    now = T0
    try:
        for _ in range(300):
            action = rng.choice(actions)
            unit = f"u{rng.randint(0, 12)}"
            a = alert([action.name], unit=unit)
            op = rng.random()
            for r in (new, old):
                if op < 0.5:
                    r.skip(action, unit, a, h.SKIPPED_COOLDOWN, "held", now, False)
                elif op < 0.7:
                    r.rate_limited(action, unit, a, "cap", now, False)
                else:
                    r.trim(now)
            if op >= 0.7:
                now += rng.choice([1, 60, 600, 1800, 3599, 3600, 3601, 7200])
            seen = [
                (
                    [(x.time, x.action, x.target, x.outcome) for x in r.history_db.records(None)],
                    {f"u{i}": _refusals(r, alert(["x"], unit=f"u{i}")) for i in range(13)},
                )
                for r in (new, old)
            ]
            assert seen[0] == seen[1]
    finally:
        for s in stores:
            s.close()


def _refusals(r: OutcomeRecorder, a: Any) -> list[Any]:
    return [(x.time, x.action, x.target) for x in r.refusals(a.fingerprint)]
