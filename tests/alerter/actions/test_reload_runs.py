"""Runs on one target stay one at a time across a reload: the runner a reload builds shares the
daemon's workers with the one it replaces, whose runs may still be going on."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import pytest

from alerter.actions.executors import render_plan
from alerter.actions.runner import ActionRunner
from alerter.actions.workers import KeyedWorkers
from alerter.rules.alert import Alert
from alerter.testing import FakeUnitController

from .conftest import T0, Harness, alert, fire, resolve

CAP = """
actions:
  - name: cap-web
    type: systemd
    unit: web.service
    operation: set-property
    properties: {CPUQuota: 20%}
    revert: true
"""

RESTART = """
actions:
  - name: restart-web
    type: systemd
    unit: web.service
    cooldown: 30s
"""


class SlowUnits(FakeUnitController):
    """The first call that changes a unit blocks until `release`; counts calls that overlap."""

    def __init__(self) -> None:
        super().__init__({"web.service": {"CPUQuotaPerSecUSec": "infinity"}})
        self.started = threading.Event()
        self.release = threading.Event()
        self.most_at_once = 0
        self._entered = 0
        self._at_once = 0

    def _enter(self) -> None:
        with self._lock:
            self._entered += 1
            first = self._entered == 1
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        if first:
            self.started.set()
            assert self.release.wait(20)

    def _leave(self) -> None:
        with self._lock:
            self._at_once -= 1

    def operate(self, operation: str, unit: str) -> None:
        self._enter()
        try:
            super().operate(operation, unit)
        finally:
            self._leave()

    def set_properties(self, unit: str, properties: Mapping[str, str]) -> None:
        self._enter()
        try:
            super().set_properties(unit, properties)
        finally:
            self._leave()


@pytest.fixture
def daemon(harness: Harness) -> Harness:
    """The harness with a daemon's workers, shared by each runner it builds."""
    harness.workers = KeyedWorkers()
    return harness


@pytest.fixture
def units() -> Iterator[SlowUnits]:
    u = SlowUnits()
    yield u
    u.release.set()  # (a failed test leaves no worker blocked)


def _key(runner: ActionRunner, action: str, a: Alert) -> str:
    return render_plan(runner.actions[action], a, runner.protected).worker_key


def test_an_undo_after_a_reload_runs_after_the_apply_the_old_runner_still_runs(
    daemon: Harness, units: SlowUnits
) -> None:
    r = daemon.build(CAP, units=units)
    a = alert(["cap-web"])
    r.handle([fire(a, T0)], T0)
    assert units.started.wait(5)  # the apply is going on
    r2 = daemon.reload(r, CAP, units=units)
    r2.handle([resolve(a, T0 + 60)], T0 + 60)
    assert daemon.workers is not None
    assert daemon.workers.queued(_key(r2, "cap-web", a)) == 1  # the undo waits behind it
    units.release.set()
    assert daemon.outcomes(r2) == ["ok", "undo_ok"]
    assert units.operations() == [
        ("set-property", "web.service", "CPUQuota=20%"),
        ("set-property", "web.service", "CPUQuota="),
    ]
    assert units.properties["web.service"]["CPUQuota"] == ""  # reverted, not left applied
    assert r2.applied.items() == {}
    assert units.most_at_once == 1


def test_a_repeat_after_a_reload_runs_after_the_run_the_old_runner_still_runs(
    daemon: Harness, units: SlowUnits
) -> None:
    r = daemon.build(RESTART, units=units)
    a = alert(["restart-web"])
    r.handle([fire(a, T0)], T0)
    assert units.started.wait(5)
    r2 = daemon.reload(r, RESTART, units=units)
    r2.tick([a], T0 + 31)  # the cooldown has passed: a restart again
    assert daemon.workers is not None
    assert daemon.workers.queued(_key(r2, "restart-web", a)) == 1
    units.release.set()
    assert daemon.outcomes(r2) == ["ok", "ok"]
    assert units.operations() == [("restart", "web.service"), ("restart", "web.service")]
    assert units.most_at_once == 1


def test_a_reload_does_not_cancel_the_runs_the_old_runner_has_queued(
    daemon: Harness, units: SlowUnits
) -> None:
    r = daemon.build(RESTART, units=units)
    a = alert(["restart-web"])
    r.handle([fire(a, T0)], T0)
    assert units.started.wait(5)
    r.tick([a], T0 + 31)  # queued behind the first
    r2 = daemon.reload(r, RESTART, units=units)
    units.release.set()
    assert daemon.outcomes(r2) == ["ok", "ok"]  # a reload is not a stop: both ran
    assert units.operations() == [("restart", "web.service"), ("restart", "web.service")]


def test_at_shutdown_the_daemon_s_workers_cancel_queued_runs_and_bound_the_wait(
    daemon: Harness, units: SlowUnits
) -> None:
    r = daemon.build(RESTART, units=units)
    a = alert(["restart-web"])
    r.handle([fire(a, T0)], T0)
    assert units.started.wait(5)
    r2 = daemon.reload(r, RESTART, units=units)
    r2.tick([a], T0 + 31)  # the new runner's, queued behind the old one's
    assert daemon.workers is not None
    r2.stop()  # the daemon's shutdown: the runner, then its workers
    daemon.workers.stop(timeout=0.0)  # returns with the first run still going on
    assert [x["outcome"] for x in r2.history()] == ["failed", "running"]
    assert r2.history()[0]["detail"] == "cancelled: alerter stopped before it ran"
    units.release.set()
    assert daemon.outcomes(r2) == ["ok", "failed"]
    assert units.operations() == [("restart", "web.service")]


def test_two_actions_on_one_unit_run_one_at_a_time(daemon: Harness, units: SlowUnits) -> None:
    # restart-web and cap-web are two actions but one target: the second waits for the first
    r = daemon.build(RESTART + CAP.split("actions:\n", 1)[1], units=units)
    a = alert(["restart-web"])
    b = alert(["cap-web"], alertname="WebSlow")
    r.handle([fire(a, T0)], T0)
    assert units.started.wait(5)  # the restart is going on
    r.handle([fire(b, T0 + 1)], T0 + 1)
    assert daemon.workers is not None
    assert daemon.workers.queued(_key(r, "cap-web", b)) == 1  # queued behind the restart
    units.release.set()
    assert sorted(daemon.outcomes(r)) == ["ok", "ok"]
    assert units.operations() == [
        ("restart", "web.service"),
        ("set-property", "web.service", "CPUQuota=20%"),
    ]
    assert units.most_at_once == 1
