"""What one loaded config runs (`Running`), the engine's hooks into self-metrics (`EngineMetrics`), and the
plain functions the daemon's status uses."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alerter import __version__
from alerter.config.load import Config
from alerter.protocols import Actions, Dispatcher, RuleEngine
from alerter.rules.alert import Alert
from alerter.runtime.bus import Gate
from alerter.runtime.latelines import LateLines
from alerter.runtime.metrics import Metrics

if TYPE_CHECKING:
    from alerter.runtime.checkpoint import Checkpointer


@dataclass
class EngineMetrics:
    """The engine's hooks (alerter.rules.engine.EngineHooks): what it reports, into self-metrics
    (and lines too old for some rule into `late`, which tells live ones)."""

    metrics: Metrics
    late: LateLines = field(default_factory=LateLines)

    def template_error(self, group: str, *args: Any) -> None:
        self.metrics.template_errors.labels(group).inc()

    def key_evicted(self, alertname: str, count: int = 1, reason: str = "max_keys") -> None:
        self.metrics.rule_keys_evicted.labels(alertname, reason).inc(count)

    def evaluation_duration(self, group: str, seconds: float) -> None:
        self.metrics.rule_evaluation_duration.labels(group).observe(seconds)

    def events_late(self, source: str, count: int, age: float, now: float) -> None:
        """(Lines no rule counted: replay's "skipped"; the daemon counts the wider set below.)"""

    def events_too_old(
        self,
        source: str,
        count: int,
        age: float,
        now: float,
        missed: tuple[tuple[str, float], ...],
        backlog: bool = False,
    ) -> None:
        # DESIGN "Event time": an event older than a rule's window counts for nothing in that
        # rule, and is counted in alerter_events_late_total (once, however many rules)
        self.metrics.events_late.labels(source).inc(count)
        self.late.note(source, count, age, now, missed, backlog)


@dataclass
class Running:
    """What one loaded config runs; replaced as a whole on reload."""

    config: Config
    engine: RuleEngine
    dispatcher: Dispatcher
    actions: Actions
    collectors: list[Any] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=dict)


def status_document(
    cfg: Config,
    alerts: list[Alert],
    *,
    started_at: float,
    ready: bool,
    bus_length: int,
    last_reload_error: str | None,
    checkpoint: Checkpointer,
    late_lines: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The daemon's status (`alerter status`, GET /api/v1/status, the STATUS line's input)."""
    return {
        "version": __version__,
        "config": cfg.path,
        "uptime_seconds": round(time.time() - started_at, 1),
        "ready": ready,
        "collectors": [c.name for c in cfg.collectors],
        # collectors whose live lines keep arriving too old for a rule (runtime/latelines.py)
        "late_lines": late_lines or {},
        "rule_groups": len(cfg.rules.groups),
        "alerts": {
            "pending": sum(a.state == "pending" for a in alerts),
            "firing": sum(a.state == "firing" for a in alerts),
        },
        "bus_length": bus_length,
        "dry_run": cfg.global_.dry_run,
        "last_reload_error": last_reload_error,
        "state": {
            "ok": checkpoint.error is None,
            "error": checkpoint.error,
            "failing_since": checkpoint.failed_since,
        },
    }


def status_line(s: dict[str, Any]) -> str:
    """The one-line summary of a status (systemd's STATUS=, `alerter status`)."""
    line = (
        f"{len(s['collectors'])} collectors, {s['rule_groups']} rule groups, "
        f"{s['alerts']['firing']} firing, {s['alerts']['pending']} pending"
    )
    if s["dry_run"]:
        line += ", DRY RUN"
    if not s["state"]["ok"]:
        line += ", STATE STORE FAILING"
    if s.get("last_reload_error"):
        line += f", reload FAILED ({s['last_reload_error'].splitlines()[0][:120]})"
    return line
