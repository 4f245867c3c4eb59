"""The daemon: wires collectors, bus, engine, actions and dispatcher, and runs the main loop.

The main loop owns the engine (rules/ is single-threaded by design). Each turn the pipeline
(alerter/runtime/pipeline.py) takes batches off the bus, feeds them to the engine, hands
transitions to actions and the dispatcher and acknowledges batches (which stages the
collectors' positions); on their own intervals the loop ticks timers, commits a checkpoint
(engine state, groups, outbox rows and those positions in one transaction:
alerter/runtime/checkpoint.py) and pings the watchdog.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from alerter import __version__
from alerter.actions.history import UnfinishedRuns
from alerter.actions.workers import KeyedWorkers
from alerter.api.endpoints import core_routes
from alerter.api.server import APIServer, ListenError
from alerter.config.load import Config, load_config
from alerter.errors import ConfigError
from alerter.rules.alert import Alert, Listing
from alerter.rules.logmetrics import LogMetrics
from alerter.runtime import collectorjobs, logseries, signals, tuning
from alerter.runtime.bus import BusSink, Gate
from alerter.runtime.checkpoint import Checkpointer, StagedPositions
from alerter.runtime.latelines import LateLines
from alerter.runtime.metrics import Metrics
from alerter.runtime.pipeline import Pipeline
from alerter.runtime.reload import Reloads, dropped_by_reload, not_held
from alerter.runtime.running import EngineMetrics, Running
from alerter.runtime.scheduler import make_scheduler
from alerter.runtime.sdnotify import SystemdNotifier
from alerter.runtime.status import SystemdStatus, status_document, status_line
from alerter.runtime.wiring import Parts
from alerter.store.db import StateStore
from alerter.store.snapshots import read_snapshot
from alerter.web.routes import routes as web_routes

log = structlog.get_logger(__name__)

TICK_SECONDS = 1.0
DISPATCH_TICK_SECONDS = 0.1
COMMIT_WAIT_SECONDS = 0.01  # the bus wait while a commit is pending
# A stop takes batches off the bus for this long at most, leaving the rest unacknowledged: with
# the outbox's STOP_BUDGET (5 s), well inside systemd's TimeoutStopSec (15 s in the unit)
STOP_DRAIN_SECONDS = 7.0


class Daemon:
    def __init__(
        self,
        config_path: str | None,
        config: Config,
        *,
        parts: Parts | None = None,
        dry_run: bool = False,
        notifier: SystemdNotifier | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config_path = config_path
        self.parts = parts or Parts()
        self.clock = self.parts.clock
        self.sd = notifier or SystemdNotifier()
        self.metrics = metrics or Metrics()
        logseries.register(self.metrics.registry, self._log_metrics)  # the rules' metrics:
        self.store = StateStore(config.global_.state_dir, lock=True)
        self.positions = StagedPositions(self.store)
        self.checkpoint = Checkpointer(self.store, self.positions, self.metrics)
        # the action runs started and not finished: each runner gets it, so a reload's runner
        # does not take the runs of the one it replaces, still going on, for a crash's leftovers
        self.unfinished_runs = UnfinishedRuns()
        # the actions' worker threads, one queue per target: each runner gets them, so a
        # reload's runner runs on a target after the old one's runs there, never alongside
        self.action_workers = KeyedWorkers()
        self.stop_drain_seconds = STOP_DRAIN_SECONDS
        self.late_lines = LateLines()  # kept across reloads: one warning per 10 min holds
        self.pipeline = Pipeline(self.clock, self.metrics, self.checkpoint, tuning.HeapTrim())
        self.started_at = time.time()
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._next_watchdog = 0.0  # (main loop) when WATCHDOG=1 is due
        self._last_alive = self._longest_gap = 0.0  # (main loop) the watchdog's view
        self.reloads = Reloads()
        self.dry_run_override = dry_run  # `alerter run --dry-run`: wins over every config loaded
        self._config = self._apply_overrides(config)
        self.scan_worker: Any = None  # the engines' helper process (alerter/runtime/scanworker.py)
        self.server = APIServer(
            config.server.host, config.server.port, self.metrics.registry, config.server.token
        )
        self.systemd_status = SystemdStatus(self.sd)

    @property
    def run_state(self) -> Running | None:
        """What the config loaded runs (None until `run` starts it); a reload replaces it."""
        return self.pipeline.running

    def _log_metrics(self) -> LogMetrics | None:
        rs = self.run_state
        return rs.engine.log_metrics if rs is not None else None

    # --- lifecycle ---------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self.reloads.request()

    def reload_and_wait(self, timeout: float) -> bool:
        """Ask the main loop to reload (as SIGHUP does) and wait for the outcome."""
        return self.reloads.request_and_wait(timeout)

    @property
    def last_reload_error(self) -> str | None:
        return self.reloads.last_error

    @property
    def last_reload_notes(self) -> list[str]:
        return self.reloads.last_notes

    def load(self) -> Config:
        return self._apply_overrides(load_config(self.config_path))

    def _apply_overrides(self, cfg: Config) -> Config:
        if self.dry_run_override and not cfg.global_.dry_run:
            cfg = dataclasses.replace(cfg, global_=dataclasses.replace(cfg.global_, dry_run=True))
        return cfg

    def install_signal_handlers(self) -> None:
        signals.install(stop=self.request_stop, reload=self.request_reload)

    def run(self) -> int:
        self.metrics.config_last_reload_successful.set(1)
        self.metrics.config_last_reload_success_timestamp.set(time.time())
        self.scheduler = make_scheduler(self.metrics)
        self.scheduler.start()
        self.scan_worker = self.parts.scan_worker(self._config)
        tuning.tune_process()  # once, before the collectors start
        self.pipeline.running = rs = self._start(self._config, previous=None)
        self._resolve_orphans(rs)
        self._route_again(rs)
        tuning.settle()
        self.server.add_routes(core_routes(self))
        self.server.add_routes(self._part_routes(rs))
        self.server.add_routes(web_routes(self))  # GET /: the web page
        self.server.start()
        self.ready.set()
        self.sd.ready(self.status_line())
        log.info(
            "alerter_started",
            version=__version__,
            config=self._config.path,
            listen=self._config.server.listen,
            port=self.server.port,
        )
        try:
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _start(self, config: Config, previous: Running | None) -> Running:
        for w in config.all_warnings():  # what `alerter check` prints, in the journal too
            log.warning("config_warning", problem=str(w))
        engine = self.parts.engine(
            config, EngineMetrics(self.metrics, self.late_lines), self.scan_worker
        )
        if previous is not None:
            engine.take_over(previous.engine, self.clock.now())
        elif snapshot := read_snapshot(self.store, lazy=True):
            engine.restore(snapshot, self.clock.now())
        gates = {
            c.name: (previous.gates.get(c.name) if previous else None) or Gate()
            for c in config.collectors
        }
        actions = self.parts.actions(
            config,
            self.store,
            self.metrics,
            self.clock,
            gates,
            self.pipeline.emit,
            self.unfinished_runs,
            self.action_workers,
        )
        # notifications carry what the actions did: the dispatcher asks the actions part
        dispatcher = self.parts.dispatcher(
            config, self.store, self.metrics, self.clock, actions.notes
        )
        running = Running(config, engine, dispatcher, actions, gates=gates)
        for cc in config.collectors:
            self._start_collector(running, cc)
        return running

    def _resolve_orphans(self, rs: Running) -> None:
        """Alerts the receivers were told are firing but no rule has any more (the rule was
        removed or changed while alerter was stopped) resolve now, as on a reload."""
        raised = rs.actions.raised()
        told = [a for a in rs.dispatcher.firing() if a.fingerprint not in raised]
        orphans = dropped_by_reload(told, rs.engine.alerts(), self.clock.now())
        if orphans:
            log.info("alerts_resolved_at_start", count=len(orphans))
            self.pipeline.handle(orphans, self.clock.now())

    def _route_again(self, rs: Running) -> None:
        """Firing alerts whose groups the changed route tree dropped go through the new tree
        (to the dispatcher only: their actions ran when they fired)."""
        with self.pipeline.engine_lock:
            again = not_held(rs.engine.alerts(), rs.dispatcher.firing(), self.clock.now())
        if again:
            log.info("alerts_routed_again", count=len(again))
            self.pipeline.guard("dispatcher", rs.dispatcher.handle, again, self.clock.now())

    def _start_collector(self, running: Running, cc: Any) -> None:
        sink = BusSink(self.pipeline.bus, cc.name, running.gates[cc.name], self.metrics)
        self.metrics.collector_started(cc.name)
        try:
            c = self.parts.collector(cc, self.positions, self.metrics, self.clock)
        except Exception:
            log.exception("collector_build_failed", collector=cc.name)
            self.metrics.up(cc.name, False)
            return
        running.collectors.append(c)
        collectorjobs.start(c, sink, self.scheduler, self.clock)

    def _stop_collectors(self, running: Running, until: float = math.inf) -> None:
        take = functools.partial(self.pipeline.drain, max_batches=1, timeout=0.05)
        close = self.pipeline.bus.close
        collectorjobs.stop_taking(running.collectors, self.scheduler, take, until, close)

    def _part_routes(self, running: Running) -> list[Any]:
        try:
            return self.parts.routes(running.dispatcher, running.actions, self.alerts)
        except ImportError as e:
            log.warning("api_routes_unavailable", error=str(e))
            return []

    # --- main loop ---------------------------------------------------------------------

    def _loop(self) -> None:
        next_tick = next_dispatch = 0.0
        wait = DISPATCH_TICK_SECONDS
        self._last_alive = time.monotonic()
        self.pipeline.alive = self._alive  # between the parts of a long handle too
        while not self._stop.is_set():
            self.pipeline.drain(max_batches=256, timeout=wait)
            mono = time.monotonic()
            rs = self.run_state
            assert rs is not None
            if mono >= next_tick:
                next_tick = mono + TICK_SECONDS
                counts = self.pipeline.tick(rs, self.clock.now())
                self.pipeline.guard("status", self._send_status, counts)
            self.pipeline.handle_emitted()
            if mono >= next_dispatch:
                next_dispatch = mono + DISPATCH_TICK_SECONDS
                self.pipeline.guard("dispatcher", rs.dispatcher.tick, self.clock.now())
            self.pipeline.commit_if_due(rs)
            wait = COMMIT_WAIT_SECONDS if self.checkpoint.pending() else DISPATCH_TICK_SECONDS
            self._alive()
            if self.reloads.take():
                self.reloads.done(self.reload())

    def _alive(self) -> None:
        """The main loop is alive (its thread only, never another): WATCHDOG=1 every half
        WatchdogSec=, and the longest time it went without coming here, the watchdog's view."""
        mono = time.monotonic()
        if mono - self._last_alive > self._longest_gap:
            self._longest_gap = mono - self._last_alive
            self.metrics.main_loop_longest_gap.set(self._longest_gap)
        self._last_alive = mono
        wd = self.sd.watchdog_interval
        if wd is not None and mono >= self._next_watchdog:
            self._next_watchdog = mono + wd
            self.sd.watchdog()

    def _send_status(self, counts: Mapping[str, int]) -> None:
        """STATUS= follows the alerts (the tick's count of them by state)."""
        self.systemd_status.update(self._status(counts))

    # --- reload and shutdown ------------------------------------------------------------

    def reload(self) -> bool:
        self.sd.reloading()
        log.info("config_reload_started", config=self.config_path or "<default>")
        try:
            new = self.load()
        except ConfigError as e:
            return self._reload_failed(
                f"{len(e.problems)} problem(s): {e.problems[0]}", [str(p) for p in e.problems]
            )
        except Exception as e:  # a fault in reading it must not end the daemon: the old stays
            log.exception("config_reload_error")
            return self._reload_failed(f"cannot load the config: {e!r}", [repr(e)])
        old = self.run_state
        assert old is not None
        try:
            # listen and token change together, before anything else: a reload that cannot
            # listen where the new config says keeps the old socket, token and config.
            self.server.reconfigure(new.server.host, new.server.port, new.server.token)
        except ListenError as e:
            return self._reload_failed(str(e), [str(e)])
        self._stop_collectors(old)
        # acks for everything already read
        while self.pipeline.drain(max_batches=1024, timeout=0) > 0:
            pass
        self.pipeline.handle_emitted()
        self.pipeline.commit(old)
        old.dispatcher.stop(wait=False)  # a send in flight ends on its own thread
        old.actions.stop()  # its runs, queued or going on, go on on self.action_workers
        if new.global_.scan_worker != old.config.global_.scan_worker:
            self._close_scan_worker()
            self.scan_worker = self.parts.scan_worker(new)
        with self.pipeline.engine_lock:
            before = old.engine.alerts()
            self.pipeline.running = rs = self._start(new, previous=old)
            rs.dispatcher.take_over(old.dispatcher)
            self.late_lines.forget()  # (a parser may have been fixed)
            dropped = dropped_by_reload(before, rs.engine.alerts(), self.clock.now())
        if dropped:
            # Rules removed or changed: their firing alerts end now, as Prometheus resolves the
            # alerts of a deleted rule, so receivers and actions are not left hanging.
            log.info("alerts_resolved_by_reload", count=len(dropped))
            self.pipeline.handle(dropped, self.clock.now())
        self._route_again(rs)
        self.server.set_routes(core_routes(self) + self._part_routes(rs) + web_routes(self))
        self._config = new
        self.reloads.applied(old.config.restart_needed(new))
        self.pipeline.commit(rs)
        tuning.settle()
        self.metrics.config_last_reload_successful.set(1)
        self.metrics.config_last_reload_success_timestamp.set(time.time())
        log.info(
            "config_reloaded", collectors=len(new.collectors), rule_groups=len(new.rules.groups)
        )
        self.sd.ready(self.status_line())
        return True

    def _reload_failed(self, error: str, problems: list[str]) -> bool:
        self.metrics.config_last_reload_successful.set(0)
        self.reloads.failed(error, problems)
        self.sd.ready(f"reload FAILED ({error}); running previous config")
        return False

    def _shutdown(self) -> None:
        self.sd.stopping()
        log.info("alerter_stopping")
        rs = self.run_state
        if rs is not None:
            until = time.monotonic() + self.stop_drain_seconds
            self._stop_collectors(rs, until)
            self.pipeline.bus.close()
            while time.monotonic() < until and self.pipeline.drain(1024, timeout=0) > 0:
                pass
            # unacknowledged: files and the journal read again
            if left := self.pipeline.bus.qsize():
                log.warning("stop_drain_cut", batches=left, seconds=self.stop_drain_seconds)
            self.pipeline.handle_emitted()
            self.pipeline.transitions.summarize(force=True)
            if not self.pipeline.commit(rs):
                log.error(
                    "state_not_saved_at_stop",
                    hint="the next start reads the lines since the last checkpoint again",
                )
            rs.dispatcher.stop()
            rs.actions.stop()
        # queued runs are cancelled; those running get KeyedWorkers.stop's budget
        self.action_workers.stop()
        self._close_scan_worker()
        self.scheduler.shutdown(wait=False)
        self.server.stop()
        self.store.close()
        self.sd.close()
        log.info("alerter_stopped")

    def _close_scan_worker(self) -> None:
        worker, self.scan_worker = self.scan_worker, None
        if worker is not None:
            worker.close()

    # --- views for the API and STATUS ---------------------------------------------------

    def alerts(self) -> list[Alert]:
        return self.pipeline.alerts()

    def listings(self) -> list[Listing]:
        return self.pipeline.listings()

    def rule_groups(self) -> Sequence[Any]:
        rs = self.run_state
        return (rs.config if rs else self._config).rules.groups

    def rule_health(self) -> list[dict[str, Any]]:
        return self.pipeline.rule_health()

    def status(self) -> dict[str, Any]:
        return self._status(self.pipeline.alert_counts())

    def _status(self, counts: Mapping[str, int]) -> dict[str, Any]:
        rs = self.run_state
        return status_document(
            rs.config if rs else self._config,
            counts,
            started_at=self.started_at,
            ready=self.ready.is_set(),
            bus_length=self.pipeline.bus.qsize(),
            last_reload_error=self.last_reload_error,
            checkpoint=self.checkpoint,
            late_lines=self.late_lines.status(self.clock.now()),
        )

    def status_line(self) -> str:
        return status_line(self.status())
