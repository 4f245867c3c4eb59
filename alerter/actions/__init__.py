"""Feedback actions: systemd units, signals, commands, collector throttles, with safety limits.

`build_action_runner` wires the configured actions to their executors; the daemon calls the
runner's `handle` for every batch of transitions and `tick` about every second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from alerter.actions.executors import (
    CommandExecutor,
    Executor,
    SignalExecutor,
    SystemdExecutor,
    ThrottleExecutor,
)
from alerter.actions.runner import ActionRunner
from alerter.actions.unitctl import SystemctlController, UnitController, normalize_unit
from alerter.protocols import Clock
from alerter.rules.alert import Transition
from alerter.runtime.bus import Gate
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

if (
    TYPE_CHECKING
):  # alerter.config.load imports alerter.actions.config, which runs this package first
    from alerter.config.load import Config

__all__ = ["ActionRunner", "build_action_runner", "protected_set"]


def protected_set(units: Sequence[str]) -> frozenset[str]:
    """Protected unit names as systemctl would resolve them (`ssh` -> `ssh.service`)."""
    out = set()
    for u in units:
        try:
            out.add(normalize_unit(u))
        except ValueError:
            out.add(u)
    return frozenset(out)


def build_action_runner(
    config: Config,
    store: StateStore,
    metrics: Metrics,
    clock: Clock,
    gates: Mapping[str, Gate],
    emit: Callable[[Sequence[Transition]], None],
    units: UnitController | None = None,
) -> ActionRunner:
    protected = protected_set(config.global_.protected_units)
    executors: dict[str, Executor] = {
        "systemd": SystemdExecutor(units or SystemctlController(), protected),
        "signal": SignalExecutor(protected),
        "command": CommandExecutor(),
        "throttle": ThrottleExecutor(gates),
    }
    return ActionRunner(
        config.actions,
        store=store,
        metrics=metrics,
        clock=clock,
        emit=emit,
        executors=executors,
        protected=protected,
        dry_run=config.global_.dry_run,
        actions_per_minute=config.global_.actions_per_minute,
    )
