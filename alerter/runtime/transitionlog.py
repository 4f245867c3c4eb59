"""The `alert_transition` log lines, within a budget.

journald keeps at most RateLimitBurst= lines of a service in RateLimitIntervalSec= (10,000 in
30 s by default) and drops the rest, errors included ("Suppressed N messages"). A storm of
distinct keys fires an alert per key: 200k lines gave 200k `alert_transition` lines, and with
them whatever else alerter had to say went unread. So each transition is logged at info level
while a token bucket allows (BURST at once, RATE a second after that), the others at debug
level, counted, and told in one `alert_transitions_not_logged` line at most every
SUMMARY_EVERY seconds: how many, by state, and the alert names with the most. Nothing is lost
but the lines: the alerts are in the API, the web page and the notifications.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence

import structlog

from alerter.rules.alert import Transition

log = structlog.get_logger(__name__)

BURST = 200  # transition lines at once
RATE = 20.0  # transition lines a second, past the burst
SUMMARY_EVERY = 10.0  # seconds between two lines that count the transitions not logged
TOP = 10  # alert names a summary names (the others are counted together)


class TransitionLog:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._tokens = float(BURST)
        self._filled = monotonic()
        self._held: collections.Counter[tuple[str, str]] = collections.Counter()
        self._told = -SUMMARY_EVERY - 1.0  # (monotonic) the last summary

    def log(self, transitions: Sequence[Transition]) -> None:
        mono = self._monotonic()
        self._tokens = min(float(BURST), self._tokens + (mono - self._filled) * RATE)
        self._filled = mono
        for t in transitions:
            a = t.alert
            fields = {
                "alertname": a.alertname,
                "state": t.state,
                "previous": t.previous,
                "fingerprint": a.fingerprint,
                "value": a.value,
            }
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                log.info("alert_transition", **fields)
            else:
                log.debug("alert_transition", **fields)
                self._held[(a.alertname, t.state)] += 1
        self.summarize()

    def summarize(self, force: bool = False) -> None:
        """Tell the transitions not logged, if SUMMARY_EVERY has passed since the last time
        (or `force`: at stop)."""
        if not self._held:
            return
        mono = self._monotonic()
        if not force and mono - self._told < SUMMARY_EVERY:
            return
        states: collections.Counter[str] = collections.Counter()
        names: collections.Counter[str] = collections.Counter()
        for (name, state), n in self._held.items():
            states[state] += n
            names[name] += n
        top = dict(names.most_common(TOP))
        log.info(
            "alert_transitions_not_logged",
            count=sum(states.values()),
            **{state: states[state] for state in sorted(states)},
            alerts=top,
            other_alerts=sum(names.values()) - sum(top.values()),
            hint="more transitions than the log's budget (20 a second, 200 at once): each is "
            "at debug level; the alerts are in GET /api/v2/alerts and on the web page",
        )
        self._held.clear()
        self._told = mono
