"""`verify:` deadlines are kept in a heap: a tick looks at the entries that are due, not at every
entry (a storm's 10k restarts with `verify` cost the main loop a walk of them and a set of every
firing fingerprint each second), and escalates as the walk of every entry did."""

from __future__ import annotations

import random
from collections.abc import Container
from pathlib import Path
from typing import Any

import pytest

from alerter.actions.escalation import VERIFY_NS, Escalator
from alerter.actions.executors import ActionPlan
from alerter.actions.history import ActionHistory
from alerter.actions.notes import INEFFECTIVE, stored_alert
from alerter.core.values import format_duration
from alerter.rules.alert import Transition
from alerter.store.db import StateStore

from .conftest import T0, alert, parse_actions

ACTIONS = """
actions:
  - {name: slow, type: systemd, unit: "{{ labels.unit }}", verify: 2m}
  - {name: quick, type: systemd, unit: "{{ labels.unit }}", verify: 30s}
  - {name: plain, type: systemd, unit: "{{ labels.unit }}"}
"""


class WalkEveryEntry(Escalator):
    """The verify checks as they were: every entry looked at on every tick (the oracle; `watch`
    adds an entry as it did)."""

    def check_verify(self, live: Container[str], now: float) -> None:
        for key, entry in list(self._verify.items()):
            fingerprint, name = key.split("\x1f", 1)
            action = self.actions.get(name)
            if fingerprint not in live or action is None or action.verify is None:
                self._verify.pop(key)
                self.store.kv_delete(VERIFY_NS, key)
                continue
            if entry["deadline"] is None or now < entry["deadline"]:
                continue
            entry["deadline"] = None
            self.store.kv_put(VERIFY_NS, key, entry)
            plan = ActionPlan(action, entry["target"], stored_alert(entry["alert"]))
            summary = (
                f"{plan.alert.alertname} still firing {format_duration(action.verify)} "
                f"after {entry['what']}"
            )
            self._raise(INEFFECTIVE, plan, summary, now)

    def forget_verify(self, fingerprint: str) -> None:
        for key in [k for k in self._verify if k.startswith(f"{fingerprint}\x1f")]:
            del self._verify[key]
            self.store.kv_delete(VERIFY_NS, key)


class CountedLookups(Container[str]):
    def __init__(self, fingerprints: set[str]) -> None:
        self.fingerprints = fingerprints
        self.lookups = 0

    def __contains__(self, fingerprint: object) -> bool:
        self.lookups += 1
        return fingerprint in self.fingerprints


def _escalator(
    store: StateStore, cls: type[Escalator], emitted: list[Transition], text: str = ACTIONS
) -> Escalator:
    actions = {a.name: a for a in parse_actions(text)}
    history = ActionHistory(store)
    return cls(actions, store=store, history_db=history, emit=emitted.extend, dry_run=False)


def test_a_tick_looks_at_no_verify_entry_before_its_deadline(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    emitted: list[Transition] = []
    esc = _escalator(store, Escalator, emitted)
    slow = esc.actions["slow"]
    alerts = [alert(["slow"], unit=f"u{i}.service") for i in range(2000)]
    for a in alerts:
        esc.watch(ActionPlan(slow, a.labels["unit"], a), "restarted", T0)
    live = CountedLookups({a.fingerprint for a in alerts})
    esc.check_verify(live, T0 + 1)  # the first sweep: each entry's alert still firing
    live.lookups = 0
    for i in range(2, 60):
        esc.check_verify(live, T0 + i)
    assert live.lookups == 0
    esc.check_verify(live, T0 + 61)  # the next sweep, a minute later
    assert live.lookups == 2000
    assert emitted == []
    live.lookups = 0
    esc.check_verify(live, T0 + 120)  # every deadline passed: each looked at once
    assert live.lookups == 2000
    assert len(emitted) == 2000
    store.close()


@pytest.mark.parametrize("seed", range(20))
def test_the_heap_escalates_as_the_walk_of_every_entry_did(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    stores = [StateStore(tmp_path / "new"), StateStore(tmp_path / "old")]
    emitted: tuple[list[Transition], list[Transition]] = ([], [])
    classes = (Escalator, WalkEveryEntry)
    sides = [_escalator(s, cls, e) for s, cls, e in zip(stores, classes, emitted, strict=True)]
    pool = [alert(["slow", "quick", "plain"], unit=f"u{i}.service") for i in range(6)]
    live: set[str] = set()
    gone: set[str] = set()  # left without a resolve: never back under that fingerprint
    now = T0
    try:
        for _ in range(300):
            op = rng.random()
            a = rng.choice(pool)
            fp = a.fingerprint
            if op < 0.15 and fp not in live and fp not in gone:  # fires
                live.add(fp)
                for esc in sides:
                    esc.forget_verify(fp)
            elif op < 0.4 and fp in live:  # an action ran
                name = rng.choice(["slow", "quick", "plain"])
                for esc in sides:
                    esc.watch(ActionPlan(esc.actions[name], a.labels["unit"], a), "ran", now)
            elif op < 0.5 and fp in live:  # resolves
                live.discard(fp)
                for esc in sides:
                    esc.forget_verify(fp)
            elif op < 0.53 and fp in live:  # its rule went: no resolve
                live.discard(fp)
                gone.add(fp)
            elif op < 0.56:  # a restart on the same stores, maybe without `quick`
                text = ACTIONS if rng.random() < 0.7 else ACTIONS.replace(", verify: 30s", "")
                sides = [
                    _escalator(s, cls, e, text)
                    for s, cls, e in zip(stores, classes, emitted, strict=True)
                ]
            else:
                now += rng.choice([1, 1, 5, 10, 29, 30, 31, 60, 119, 120, 300])
                for esc in sides:
                    esc.check_verify(live, now)
            assert _seen(emitted[0]) == _seen(emitted[1])
        now += 61  # a sweep: what the walk dropped at once is dropped within a minute
        for esc in sides:
            esc.check_verify(live, now)
        assert stores[0].kv_items(VERIFY_NS) == stores[1].kv_items(VERIFY_NS)
    finally:
        for s in stores:
            s.close()


def _seen(emitted: list[Transition]) -> list[Any]:
    return [(t.alert.fingerprint, t.state, t.time, t.alert.annotations) for t in emitted]
