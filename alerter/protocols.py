"""The interfaces the daemon wires together. Each part implements one; tests use fakes.

collectors --(Sink/bus)--> RuleEngine --(Transitions)--> Actions, Dispatcher --> Notifier
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any, Protocol, Self

from alerter.core.events import LogLines, Sample
from alerter.rules.alert import Alert, Listing, Transition
from alerter.rules.logmetrics import LogMetrics


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""

    def monotonic(self) -> float: ...


class RuleEngine(Protocol):
    """Pure evaluation of rules over events; the daemon calls it from one thread only."""

    @property
    def log_metrics(self) -> LogMetrics | None:
        """The log-derived metrics (`metrics:` of the rule groups) it keeps, served on
        /metrics (None: it keeps none)."""

    def process(self, batch: LogLines, now: float) -> list[Transition]:
        """Feed one source's log lines. Log rules fire in the processing of the line that
        crosses the threshold."""

    def process_samples(self, samples: Iterable[Sample], now: float) -> None:
        """Store metric samples (metric rules evaluate them at `tick`)."""

    def tick(self, now: float, timer: Callable[[], float] | None = None) -> list[Transition]:
        """Time-driven evaluation (windows expiring, `for`, `absent`, metric rules) of the groups
        due; with `timer`, each group's evaluation time goes to the hooks."""

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts now."""

    def listings(self) -> list[Listing]:
        """The same alerts, a Listing per rule: one that is the same object as at an earlier
        call has not changed since."""

    def rule_health(self) -> list[dict[str, Any]]:
        """For GET /api/v1/rules: groups, rules, health, last error, last evaluation."""

    def snapshot(self, lazy: bool = False) -> dict[str, Any]:
        """JSON-able alert state and window contents, for the state store (`lazy`: long
        tables as alerter.rules.rows.Rows, made in pieces as the checkpoint writes them)."""

    def restore(self, data: Mapping[str, Any], now: float) -> None: ...

    def take_over(self, old: Self, now: float) -> None:
        """For a reload: `restore(old.snapshot(), now)`, which the engine may do without
        copying what stays the same."""


class DaemonControl(Protocol):
    """What the daemon's own endpoints (alerter/api/endpoints.py) read and ask of it."""

    @property
    def ready(self) -> threading.Event:
        """Set once collectors and rules are loaded."""

    @property
    def last_reload_error(self) -> str | None: ...

    @property
    def last_reload_notes(self) -> list[str]:
        """What the last good reload did not apply (a restart does)."""

    def reload_and_wait(self, timeout: float) -> bool:
        """Reload as SIGHUP does and wait for the outcome; False if it failed or timed out."""

    def rule_health(self) -> list[dict[str, Any]]: ...

    def status(self) -> dict[str, Any]: ...

    @property
    def started_at(self) -> float:
        """Epoch seconds."""

    def alerts(self) -> list[Alert]:
        """The engine's pending and firing alerts."""

    def rule_groups(self) -> Sequence[Any]:
        """The loaded config's rule groups (alerter.rules.model.Group and metrics groups)."""


class Notifier(Protocol):
    name: str
    send_resolved: bool

    def send(self, notification: Any) -> None:
        """Deliver one notification; raise NotifyError (retry or not) on failure."""


class Durable(Protocol):
    """A part whose changes the daemon's checkpoint writes (alerter/runtime/checkpoint.py)."""

    def dirty(self) -> bool:
        """Something changed since the last write."""

    def write(self, db: sqlite3.Connection, now: float, alive: Callable[[], None]) -> None:
        """Add what changed since the last write to the caller's transaction; a long write
        calls `alive` (the main loop's watchdog ping) between its parts."""

    def written(self, ok: bool) -> None:
        """The transaction of the last write committed (ok) or was rolled back."""


class Dispatcher(Durable, Protocol):
    def handle(
        self, transitions: Sequence[Transition], now: float, alive: Callable[[], None] = ...
    ) -> None:
        """`alive` (the main loop's watchdog ping) is called between the parts of a long one."""

    def tick(self, now: float) -> None:
        """Flush groups whose timers are due and send what the outbox holds."""

    def stop(self, wait: bool = True) -> None:
        """Stop sending; wait=False does not wait for a send in flight."""

    def firing(self) -> list[Alert]:
        """The alerts the receivers were last told are firing."""

    def refresh(self, firing: Sequence[Alert]) -> None:
        """The engine's firing alerts as they are now (every tick): an alert held as firing
        is held with its current annotations and value from then on."""

    def take_over(self, old: Dispatcher) -> None:
        """A reload: carry over what `old` (the replaced config's) holds that the store does
        not (its last commit was refused)."""


class Actions(Protocol):
    """The actions part (alerter.actions.runner.ActionRunner runs them)."""

    def handle(self, transitions: Sequence[Transition], now: float) -> None:
        """Decide and start the actions these transitions call for."""

    def tick(self, firing: Sequence[Alert], now: float, live: Container[str] | None = None) -> None:
        """Repeat actions whose cooldown passed, check `verify` deadlines, resume after limits.
        `live`: the fingerprints of every firing alert, when `firing` holds only those that
        list actions (None: `firing` holds them all). The same tuple as the last tick's says
        that none of its alerts changed."""

    def history(self, fingerprint: str | None = None) -> list[dict[str, Any]]: ...

    def notes(self, fingerprint: str) -> list[str]:
        """Lines for notifications, e.g. "restarted web.service at 12:03, 2 of 3 in the last hour"."""

    def raised(self) -> set[str]:
        """Fingerprints of the alerts the actions raise themselves (remediation exhausted...)."""

    def durable(self) -> Sequence[Durable]:
        """What the checkpoint writes for the actions (history rows the store refused, the
        ends of the firings that count runs per firing)."""

    def stop(self) -> None: ...


EmitTransitions = Callable[[Sequence[Transition]], None]
