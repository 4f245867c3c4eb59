"""The senders' line per notification, within a budget (alerter/core/linebudget.py).

After a storm the senders log a line per notification sent, superseded or dropped: hundreds a
second per receiver (Alertmanager writes its "Notify success" at debug level for this reason),
and a backlog dropped at `max_age` is an error line per row. journald's rate limit then drops
lines, whatever else alerter had to say with them. So these lines keep within a budget shared
by all senders: past it each is at debug level, and one `notification_lines_not_logged` line at
most every SUMMARY_EVERY seconds counts them by outcome and notifier, at error level when any of
them is a notification dropped or refused. `alerter_notifications_total` counts every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import structlog

from alerter.core.linebudget import BUDGET, LineBudget, summary

log = structlog.get_logger(__name__)

LOST = frozenset({"dropped", "failed"})  # outcomes whose lines are errors


class SendLog:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._budget: LineBudget[tuple[str, str]] = LineBudget(monotonic=monotonic)

    def say(
        self,
        bound: structlog.typing.FilteringBoundLogger,
        level: Literal["info", "error"],
        event: str,
        notifier: str,
        outcome: str,
        **fields: Any,
    ) -> None:
        """Write `event` at `level` if the budget allows, else at debug (counted)."""
        if not self._budget.allow((notifier, outcome)):
            bound.debug(event, **fields)
        elif level == "error":
            bound.error(event, **fields)
        else:
            bound.info(event, **fields)
        self.summarize()

    def summarize(self, force: bool = False) -> None:
        """Tell the lines held back, when a summary is due (or `force`: at stop)."""
        held = self._budget.take_held(force)
        if not held:
            return
        lost = any(outcome in LOST for _, outcome in held)
        (log.error if lost else log.info)(
            "notification_lines_not_logged",
            **summary(held, "notifiers"),
            hint=f"more notification lines than {BUDGET}: each is at debug level; "
            "alerter_notifications_total counts them all",
        )
