"""The `alert_transition` log lines, within a budget (alerter/core/linebudget.py).

A storm of distinct keys fires an alert per key: 200k lines gave 200k `alert_transition` lines,
and with them whatever else alerter had to say went unread (journald's rate limit). So each
transition is logged at info level while the budget allows, the others at debug level, counted,
and told in one `alert_transitions_not_logged` line at most every SUMMARY_EVERY seconds: how
many, by state, and the alert names with the most. Nothing is lost but the lines: the alerts are
in the API, the web page and the notifications.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from alerter.core.linebudget import BUDGET, BURST, RATE, SUMMARY_EVERY, LineBudget, by_part
from alerter.rules.alert import Transition

log = structlog.get_logger(__name__)

__all__ = ["BURST", "RATE", "SUMMARY_EVERY", "TOP", "TransitionLog"]

TOP = 10  # alert names a summary names (the others are counted together)


class TransitionLog:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._budget: LineBudget[tuple[str, str]] = LineBudget(monotonic=monotonic)

    def log(self, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            a = t.alert
            fields = {
                "alertname": a.alertname,
                "state": t.state,
                "previous": t.previous,
                "fingerprint": a.fingerprint,
                "value": a.value,
            }
            if self._budget.allow((a.alertname, t.state)):
                log.info("alert_transition", **fields)
            else:
                log.debug("alert_transition", **fields)
        self.summarize()

    def summarize(self, force: bool = False) -> None:
        """Tell the transitions not logged, if SUMMARY_EVERY has passed since the last time
        (or `force`: at stop)."""
        held = self._budget.take_held(force)
        if not held:
            return
        names, states = by_part(held)
        top = dict(names.most_common(TOP))
        log.info(
            "alert_transitions_not_logged",
            count=sum(states.values()),
            **{state: states[state] for state in sorted(states)},
            alerts=top,
            other_alerts=sum(names.values()) - sum(top.values()),
            hint=f"more transitions than {BUDGET}: each is at debug level; the alerts are in "
            "GET /api/v2/alerts and on the web page",
        )
