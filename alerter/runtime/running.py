"""What one loaded config runs (`Running`), and the engine's hooks into self-metrics
(`EngineMetrics`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerter.config.load import Config
from alerter.protocols import Actions, Dispatcher, RuleEngine
from alerter.runtime.bus import Gate
from alerter.runtime.latelines import LateLines
from alerter.runtime.metrics import Metrics


@dataclass
class EngineMetrics:
    """The engine's hooks (alerter.rules.enginehooks.EngineHooks): what it reports, into
    self-metrics (and lines too old for some rule into `late`, which tells live ones)."""

    metrics: Metrics
    late: LateLines = field(default_factory=LateLines)

    def template_error(self, group: str, *args: Any) -> None:
        self.metrics.template_errors.labels(group).inc()

    def key_evicted(self, alertname: str, count: int = 1, reason: str = "max_keys") -> None:
        self.metrics.rule_keys_evicted.labels(alertname, reason).inc(count)

    def evaluation_duration(self, group: str, seconds: float) -> None:
        self.metrics.rule_evaluation_duration.labels(group).observe(seconds)

    def events_uncounted(self, source: str, count: int, age: float, now: float) -> None:
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
