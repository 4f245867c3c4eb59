"""The tick decides only the repeats that are due (alerter/actions/wakes.py): the same decisions,
in the same order, with the same history rows, as the tick that decided every firing alert's
actions every second; and an idle tick decides nothing."""

from __future__ import annotations

import random
from collections.abc import Container, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerter.actions import executors, protected_set
from alerter.actions import runner as runner_module
from alerter.actions.banaddr import Allowlist, parse_address
from alerter.actions.bans import BanExecutor
from alerter.actions.config import ActionConfig
from alerter.actions.executors import ActionPlan, SystemdExecutor
from alerter.actions.runner import ActionRunner, _once
from alerter.config.load import DEFAULT_PROTECTED_UNITS
from alerter.rules.alert import Alert, Transition
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FakeFirewall, FakeUnitController, FixedClock
from tests.alerter.actions.ban_setup import HOST, build
from tests.alerter.actions.conftest import T0, Harness, alert, fire, parse_actions, resolve


class WalkEveryAlert(ActionRunner):
    """The tick before the calendar, as it was: each firing alert's actions decided every tick
    (the oracle the calendar's tick is compared with)."""

    def tick(
        self, firing_alerts: Sequence[Alert], now: float, live: Container[str] | None = None
    ) -> None:
        if live is None:
            live = {a.fingerprint for a in firing_alerts if a.state == "firing"}
        self.escalator.resume_exhausted(now)
        for a in firing_alerts:
            if a.state != "firing" or not a.actions:
                continue
            actions = self._actions_of(a, "firing")
            self.firings.firing(a.fingerprint, a.active_at, _once(actions))
            settled = self._settled.get(a.fingerprint, ())
            for action in actions:
                if action.repeat or action.name not in settled:
                    self._decide(action, a, now, repeat=True)
        self.escalator.check_verify(live, now)
        self.reverter.undo_orphans(live, now)
        self.firings.sweep(live, now)
        if len(self._settled) > 10_000:
            self._settled = {k: v for k, v in self._settled.items() if k in live}
        self.recorder.trim(now)
        if len(self._not_before) > 10_000:
            self._not_before = {k: v for k, v in self._not_before.items() if v > now}
        if now >= self._next_prune:
            self._next_prune = now + 3600.0
            self.history_db.prune(now - self.retention)


@dataclass
class Side:
    """One runner on its own store, clock, firewall and units."""

    runner: ActionRunner
    clock: FixedClock
    bans: BanExecutor
    firewall: FakeFirewall
    units: FakeUnitController
    emitted: list[Transition]
    store: StateStore

    def seen(self) -> dict[str, Any]:
        assert self.runner.wait_idle(10)
        return {
            "history": self.runner.history(limit=100_000),
            "emitted": [(t.alert.fingerprint, t.state, t.time) for t in self.emitted],
            "banned": self.firewall.banned(),
            "units": list(self.units.calls),
        }


def _config(rng: random.Random) -> str:
    def duration() -> str:
        return rng.choice(["0s", "30s", "1m", "5m", "20m"])

    def limit() -> str:
        return f"{{count: {rng.randint(1, 3)}, within: {rng.choice(['2m', '10m', '1h'])}}}"

    repeat = rng.choice(["true", "false"])
    verify = rng.choice(["", "    verify: 2m\n"])
    once_dry = rng.choice(["true", "false"])
    return f"""
actions:
  - name: ban
    type: ban
    address: "{{{{ labels.ip }}}}"
    duration: {rng.choice(["1m", "5m", "15m"])}
    cooldown: {duration()}
    limit: {limit()}
    repeat: {repeat}
    allow: [198.51.100.0/24]
  - name: restart
    type: systemd
    unit: "{{{{ labels.unit }}}}"
    cooldown: {duration()}
    limit: {limit()}
{verify}  - name: once
    type: systemd
    unit: "{{{{ labels.unit }}}}"
    cooldown: {duration()}
    limit: {limit()}
    repeat: false
    dry_run: {once_dry}
"""


def _side(
    tmp: Path, cls: type[ActionRunner], text: str, dry: bool, per_minute: int, max_bans: int
) -> Side:
    clock = FixedClock(T0)
    store = StateStore(tmp / "state")
    actions = parse_actions(text)
    firewall = FakeFirewall(clock)
    bans = BanExecutor(
        actions,
        store,
        firewall,
        clock,
        allowlist=Allowlist(
            [n for a in actions for n in getattr(a.spec, "allow", ())], read_host=lambda: set(HOST)
        ),
        dry_run=dry,
        max_bans=max_bans,
    )
    bans.start()
    units = FakeUnitController()
    protected = protected_set(DEFAULT_PROTECTED_UNITS)
    emitted: list[Transition] = []
    runner = cls(
        actions,
        store=store,
        metrics=Metrics(CollectorRegistry()),
        clock=clock,
        emit=emitted.extend,
        executors={"systemd": SystemdExecutor(units, protected), "ban": bans},
        protected=protected,
        dry_run=dry,
        actions_per_minute=per_minute,
    )
    return Side(runner, clock, bans, firewall, units, emitted, store)


def _pool(rng: random.Random) -> list[Alert]:
    ips = ["203.0.113.7", "203.0.113.8", "198.51.100.5", "not an address", "203.0.113.9"]
    units = ["web.service", "db.service", "dbus.service", "cache.service"]
    names = ["ban", "restart", "once"]
    out = []
    for i in range(8):
        actions = rng.sample(names, rng.randint(1, 3))
        a = alert(actions, ip=rng.choice(ips), unit=rng.choice(units), n=str(i))
        out.append(replace(a, labels={**a.labels, "alertname": rng.choice(["Web", "Scan"])}))
    return out


@pytest.mark.parametrize("seed", range(24))
def test_the_tick_decides_as_the_walk_of_every_alert_did(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    text = _config(rng)
    dry, per_minute, max_bans = rng.random() < 0.5, rng.randint(2, 8), rng.randint(1, 3)
    new = _side(tmp_path / "new", ActionRunner, text, dry, per_minute, max_bans)
    old = _side(tmp_path / "old", WalkEveryAlert, text, dry, per_minute, max_bans)
    sides = (new, old)
    pool = _pool(rng)
    firing: dict[str, Alert] = {}
    walked: tuple[Alert, ...] | None = None  # the tuple ticked last, reused while unchanged
    try:
        for _ in range(160):
            now = new.clock.now()
            op = rng.random()
            if op < 0.12:
                a = rng.choice(pool)
                if a.fingerprint not in firing:
                    a = replace(a, active_at=now, fired_at=now)
                    firing[a.fingerprint] = replace(a, state="firing")
                    for s in sides:
                        s.runner.handle([fire(a, now)], now)
                    walked = None
            elif op < 0.2 and firing:
                fp = rng.choice(sorted(firing))
                a = firing.pop(fp)
                for s in sides:
                    s.runner.handle([resolve(a, now)], now)
                walked = None
            elif op < 0.25 and firing:  # a new value: the engine lists a new Alert
                fp = rng.choice(sorted(firing))
                firing[fp] = replace(firing[fp], value=rng.random())
                walked = None
            elif op < 0.28:  # a ban lifted by hand
                address = parse_address(rng.choice(["203.0.113.7", "203.0.113.8"]))
                for s in sides:
                    s.bans.lift(address)
            else:
                step = rng.choice([1, 1, 1, 1, 2, 7, 30, 59, 60, 61, 120, 300, 900, 3601])
                if walked is None or rng.random() < 0.1:
                    walked = tuple(firing.values())
                seq: Sequence[Alert] = walked if rng.random() < 0.9 else list(walked)
                for s in sides:
                    s.clock.advance(step)
                    s.runner.tick(seq, s.clock.now())
            assert new.seen() == old.seen()
    finally:
        for s in sides:
            s.runner.stop()
            s.store.close()


def test_an_idle_tick_decides_none_of_the_alerts_held_back(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, _, fw = build(harness)
    alerts = tuple(alert(["ban"], ip=f"203.0.113.{i}") for i in range(1, 51))
    runner.handle([fire(a, T0) for a in alerts], T0)
    firing = tuple(replace(a, state="firing") for a in alerts)
    runner.tick(firing, T0 + 1)
    assert runner.wait_idle(10)
    assert len(fw.banned()) == 50
    rendered: list[Alert] = []
    render = executors.render_plan

    def counted(action: ActionConfig, a: Alert, protected: frozenset[str]) -> ActionPlan:
        rendered.append(a)
        return render(action, a, protected)

    monkeypatch.setattr(runner_module, "render_plan", counted)
    for i in range(2, 30):
        runner.tick(firing, T0 + i)
    assert rendered == []  # every ban in force for 10m: nothing to decide
    runner.tick(firing, T0 + 600)  # the bans end: each alert bans again
    assert runner.wait_idle(10)
    assert len(rendered) == 50
    assert [r["outcome"] for r in runner.history(limit=1000)].count("ok") == 100


def test_alerts_refused_by_the_ban_cap_are_looked_at_again_a_minute_later(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `global.max_bans` every alert with a ban was decided again every second (a storm's
    90k past the cap cost seconds of the main loop a tick); now a minute later, and a place
    freed by hand is taken then."""
    runner, bans, fw = build(harness, max_bans=2)
    alerts = tuple(alert(["ban"], ip=f"203.0.113.{i}") for i in range(1, 6))
    runner.handle([fire(a, T0) for a in alerts], T0)
    firing = tuple(replace(a, state="firing") for a in alerts)
    runner.tick(firing, T0 + 1)
    assert runner.wait_idle(10)
    assert sorted(map(str, fw.banned())) == ["203.0.113.1", "203.0.113.2"]
    rendered: list[str] = []
    render = executors.render_plan

    def counted(action: ActionConfig, a: Alert, protected: frozenset[str]) -> ActionPlan:
        rendered.append(a.labels["ip"])
        return render(action, a, protected)

    monkeypatch.setattr(runner_module, "render_plan", counted)
    for i in range(2, 30):
        runner.tick(firing, T0 + i)
    assert rendered == []
    bans.lift(parse_address("203.0.113.1"))  # by hand: a place frees
    for i in range(30, 60):
        runner.tick(firing, T0 + i)
    assert rendered == []
    runner.tick(firing, T0 + 60)
    assert runner.wait_idle(10)
    assert rendered == ["203.0.113.3", "203.0.113.4", "203.0.113.5"]
    assert sorted(map(str, fw.banned())) == ["203.0.113.2", "203.0.113.3"]
    refused = [r for r in runner.history(limit=100) if r["outcome"] == "refused_cap"]
    assert {r["target"] for r in refused} == {"203.0.113.3", "203.0.113.4", "203.0.113.5"}
