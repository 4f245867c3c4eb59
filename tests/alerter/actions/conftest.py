"""A harness around the action runner: fake units, a fixed clock, a real state store."""

from __future__ import annotations

import threading
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerter.actions import protected_set
from alerter.actions.config import ActionConfig, parse_action
from alerter.actions.executors import (
    ActionPlan,
    CommandExecutor,
    Executor,
    SignalExecutor,
    SystemdExecutor,
    ThrottleExecutor,
)
from alerter.actions.history import UnfinishedRuns
from alerter.actions.runner import ActionRunner
from alerter.actions.unitctl import UnitController
from alerter.actions.workers import KeyedWorkers
from alerter.config.load import DEFAULT_PROTECTED_UNITS
from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems, SourceError
from alerter.rules.alert import Alert, State, Transition
from alerter.runtime.bus import Gate
from alerter.runtime.checkpoint import Checkpointer, StagedPositions
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FakeUnitController, FixedClock

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC

# restart-web on the unit its alert's `unit` label names: the action the runner's safety tests use
RESTART = """
actions:
  - name: restart-web
    type: systemd
    unit: "{{ labels.unit }}"
    cooldown: 5m
    limit: {count: 3, within: 1h}
"""


def parse_actions(
    text: str, protected: tuple[str, ...] = DEFAULT_PROTECTED_UNITS
) -> list[ActionConfig]:
    """The `actions:` list of a YAML document; raises SourceError listing every problem."""
    p = Problems(env={})
    top = MapReader(load_yaml(text, "alerter.yaml"), p, "config")
    out = [a for a in (parse_action(r, protected, Path(".")) for r in top.items("actions")) if a]
    top.done()
    if p.items:
        raise SourceError(p.items)
    return out


class CountedWalks(dict[Any, Any]):
    """A dict that counts the walks of it: a cost counted without a clock."""

    walks = 0

    def items(self) -> ItemsView[Any, Any]:  # type: ignore[override]
        self.walks += 1
        return super().items()

    def __iter__(self) -> Iterator[Any]:
        self.walks += 1
        return super().__iter__()


def alert(
    actions: Sequence[str], state: State = "firing", active_at: float = T0, **labels: str
) -> Alert:
    labels = {"alertname": "WebErrors", **labels}
    return Alert(
        labels=labels,
        annotations={"summary": "errors"},
        state=state,
        value=5.0,
        active_at=active_at,
        fired_at=active_at,
        actions=tuple(actions),
    )


def fire(a: Alert, at: float) -> Transition:
    from dataclasses import replace

    return Transition(at, "pending", replace(a, state="firing"))


def resolve(a: Alert, at: float) -> Transition:
    from dataclasses import replace

    return Transition(at, "firing", replace(a, state="resolved", resolved_at=at))


@dataclass
class Harness:
    tmp: Path
    units: FakeUnitController = field(default_factory=FakeUnitController)
    clock: FixedClock = field(default_factory=lambda: FixedClock(T0))
    emitted: list[Transition] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=dict)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    runners: list[ActionRunner] = field(default_factory=list)
    store: StateStore | None = None
    metrics: Metrics | None = None
    unfinished: UnfinishedRuns = field(default_factory=UnfinishedRuns)
    # the daemon's worker pool, when a test sets one: every runner built then shares it, as the
    # runners a daemon's reloads build do (None: each runner has its own, as in a new process)
    workers: KeyedWorkers | None = None

    def build(
        self,
        text: str,
        *,
        dry_run: bool = False,
        actions_per_minute: int = 30,
        executors: dict[str, Executor] | None = None,
        units: UnitController | None = None,
        protected_units: tuple[str, ...] = DEFAULT_PROTECTED_UNITS,
    ) -> ActionRunner:
        """A runner for these actions; call again to 'restart the daemon' on the same store (or
        reload it: the runners share `unfinished`, and `workers` when set, as a daemon's do)."""
        if self.store is None:
            self.store = StateStore(self.tmp / "state")
        if self.metrics is None:
            self.metrics = Metrics(self.registry)
        protected = protected_set(protected_units)
        ex: dict[str, Executor] = {
            "systemd": SystemdExecutor(units or self.units, protected),
            "signal": SignalExecutor(protected),
            "command": CommandExecutor(),
            "throttle": ThrottleExecutor(self.gates),
        }
        ex.update(executors or {})
        runner = ActionRunner(
            parse_actions(text),
            store=self.store,
            metrics=self.metrics,
            clock=self.clock,
            emit=self.emitted.extend,
            executors=ex,
            protected=protected,
            dry_run=dry_run,
            actions_per_minute=actions_per_minute,
            unfinished=self.unfinished,
            workers=self.workers,
        )
        self.runners.append(runner)
        return runner

    def reload(self, old: ActionRunner, text: str, **kwargs: Any) -> ActionRunner:
        """What the daemon's reload does to the actions: stop the old runner, build a new one."""
        old.stop()
        return self.build(text, **kwargs)

    def checkpoint(self, runner: ActionRunner) -> None:
        """A checkpoint of the runner's durable parts, committed by the daemon's Checkpointer."""
        assert self.store is not None and self.metrics is not None
        cp = Checkpointer(self.store, StagedPositions(self.store), self.metrics)
        assert cp.commit(lambda: {}, runner.durable(), self.clock.now())  # (no engine here)

    def metric(self, action: str, outcome: str) -> float:
        v = self.registry.get_sample_value(
            "alerter_actions_total", {"action": action, "outcome": outcome}
        )
        return v or 0.0

    def outcomes(self, runner: ActionRunner, fingerprint: str | None = None) -> list[str]:
        assert runner.wait_idle(10)
        return [r["outcome"] for r in reversed(runner.history(fingerprint))]

    def emitted_names(self) -> list[tuple[str, str]]:
        return [(t.alert.alertname, t.state) for t in self.emitted]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    for r in h.runners:
        r.stop()
    if h.workers is not None:
        h.workers.stop()
    if h.store is not None:
        h.store.close()


def run_ticks(
    runner: ActionRunner,
    clock: FixedClock,
    alerts: Sequence[Alert],
    seconds: float,
    step: float = 1.0,
    after: Callable[[], Any] | None = None,
) -> None:
    """Drive tick() every `step` seconds of fake time for `seconds`, waiting for workers between."""
    end = clock.now() + seconds
    while clock.now() < end:
        clock.advance(step)
        runner.tick(list(alerts), clock.now())
        assert runner.wait_idle(10)
        if after is not None:
            after()


class BlockingExecutor:
    """An executor whose apply blocks until `release` is set; `started` tells that it began."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def undo_state(self, plan: ActionPlan) -> None:
        return None

    def apply(self, plan: ActionPlan) -> tuple[str, Mapping[str, Any]]:
        self.started.set()
        self.release.wait(10)
        return "done", {}

    def undo(self, plan: ActionPlan) -> str:
        return ""


@dataclass
class Detached:
    """A process started through an intermediate that exits at once: not a descendant of the
    test process (which plays alerter), as the processes a signal action aims at are not."""

    pid: int

    @classmethod
    def start(cls, *args: str) -> Detached:
        import subprocess
        import sys

        spawn = (
            "import subprocess, sys; print(subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL,"
            " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"
        )
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                spawn,
                sys.executable,
                "-c",
                "import time; time.sleep(300)",
                *args,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return cls(int(out.stdout))

    def gone(self) -> bool:
        """Exited (a zombie its new parent has not reaped yet counts as exited)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"

    def kill(self) -> None:
        import os
        import signal

        if not self.gone():
            os.kill(self.pid, signal.SIGKILL)
