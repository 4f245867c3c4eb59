"""Feedback actions: systemd units, signals, commands, collector throttles, bans, with safety limits.

`build_action_runner` wires the configured actions to their executors; the daemon calls the
runner's `handle` for every batch of transitions and `tick` about every second.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from alerter.actions.bans import BanExecutor
from alerter.actions.executors import (
    CommandExecutor,
    Executor,
    SignalExecutor,
    SystemdExecutor,
    ThrottleExecutor,
)
from alerter.actions.history import UnfinishedRuns
from alerter.actions.nft import Firewall, Nftables
from alerter.actions.runner import ActionRunner
from alerter.actions.unitctl import SystemctlController, UnitController, normalize_unit
from alerter.actions.workers import KeyedWorkers
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


def _count_bans(bans: BanExecutor, clock: Clock, fam: str) -> float:
    return float(bans.book.count(clock.now(), False, fam))


def build_action_runner(
    config: Config,
    store: StateStore,
    metrics: Metrics,
    clock: Clock,
    gates: Mapping[str, Gate],
    emit: Callable[[Sequence[Transition]], None],
    units: UnitController | None = None,
    firewall: Firewall | None = None,
    unfinished: UnfinishedRuns | None = None,
    workers: KeyedWorkers | None = None,
) -> ActionRunner:
    protected = protected_set(config.global_.protected_units)
    bans = BanExecutor(
        config.actions,
        store,
        firewall or Nftables(),
        clock,
        dry_run=config.global_.dry_run,
        max_bans=config.global_.max_bans,
        on_error=lambda operation: metrics.state_errors.labels("bans").inc(),
    )
    bans.start()  # re-apply the bans in force with the time they have left
    for fam in ("ipv4", "ipv6"):
        metrics.bans.labels(fam).set_function(functools.partial(_count_bans, bans, clock, fam))
    executors: dict[str, Executor] = {
        "systemd": SystemdExecutor(units or SystemctlController(), protected),
        "signal": SignalExecutor(protected),
        "command": CommandExecutor(),
        "throttle": ThrottleExecutor(gates),
        "ban": bans,
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
        unfinished=unfinished,
        workers=workers,
    )
