"""Which implementation each part of the daemon uses; tests swap in fakes through `Parts`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from alerter.api.routes import Route

if TYPE_CHECKING:
    from alerter.actions.history import UnfinishedRuns
    from alerter.actions.workers import KeyedWorkers
    from alerter.collectors.base import Collector, CollectorStats, PollingCollector, PositionStore
    from alerter.config.collectors import CollectorConfig
    from alerter.config.load import Config
    from alerter.protocols import Actions, Clock, Dispatcher, RuleEngine
    from alerter.rules.alert import Alert, Transition
    from alerter.rules.enginehooks import EngineHooks
    from alerter.rules.scan import Offload
    from alerter.runtime.bus import Gate
    from alerter.runtime.metrics import Metrics
    from alerter.store.db import StateStore


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def _engine(config: Config, hooks: EngineHooks, offload: Offload | None = None) -> RuleEngine:
    from alerter.rules.engine import Engine

    return Engine(config.rules, config.alert_labels(), hooks, offload)


def _scan_worker(config: Config) -> Any:
    """The helper process for bulk rules' passes (alerter/runtime/scanworker.py), when the config
    wants one and the host has a second CPU; None otherwise."""
    if not config.global_.scan_worker or (os.cpu_count() or 1) < 2:
        return None
    from alerter.runtime.scanworker import ScanWorker

    return ScanWorker()


def _dispatcher(
    config: Config,
    store: StateStore,
    metrics: Metrics,
    clock: Clock,
    notes: Callable[[str], list[str]],
) -> Dispatcher:
    from alerter.dispatch import build_dispatcher

    # The daemon's checkpoint writes the dispatcher's changes with the engine state.
    return build_dispatcher(config, store, metrics, clock, notes, own_commits=False)


def _actions(
    config: Config,
    store: StateStore,
    metrics: Metrics,
    clock: Clock,
    gates: Mapping[str, Gate],
    emit: Callable[[Sequence[Transition]], None],
    unfinished: UnfinishedRuns,
    workers: KeyedWorkers,
) -> Actions:
    from alerter.actions import build_action_runner

    return build_action_runner(
        config, store, metrics, clock, gates, emit, unfinished=unfinished, workers=workers
    )


def _collector(
    cfg: CollectorConfig, positions: PositionStore, stats: CollectorStats, clock: Clock
) -> Collector | PollingCollector:
    from alerter.config.collectors import build_collector

    return build_collector(cfg, positions, stats, clock)


def _routes(
    dispatcher: Dispatcher, actions: Actions, alerts: Callable[[], list[Alert]]
) -> list[Route]:
    from alerter.actions.api import routes as action_routes
    from alerter.actions.runner import ActionRunner as Runner
    from alerter.dispatch.api import routes as dispatch_routes

    return [*dispatch_routes(dispatcher, alerts), *action_routes(cast(Runner, actions))]


@dataclass(frozen=True, slots=True)
class Parts:
    engine: Callable[[Config, EngineHooks, Offload | None], RuleEngine] = _engine
    scan_worker: Callable[[Config], Any] = _scan_worker  # None, or has close()
    dispatcher: Callable[
        [Config, StateStore, Metrics, Clock, Callable[[str], list[str]]], Dispatcher
    ] = _dispatcher
    actions: Callable[
        [
            Config,
            StateStore,
            Metrics,
            Clock,
            Mapping[str, Gate],
            Callable[[Sequence[Transition]], None],
            UnfinishedRuns,
            KeyedWorkers,
        ],
        Actions,
    ] = _actions
    collector: Callable[
        [CollectorConfig, PositionStore, CollectorStats, Clock], Collector | PollingCollector
    ] = _collector
    routes: Callable[[Dispatcher, Actions, Callable[[], list[Alert]]], list[Route]] = _routes
    clock: Clock = field(default_factory=SystemClock)
