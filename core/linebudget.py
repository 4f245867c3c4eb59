"""A budget for log lines that come once per alert or per notification.

journald keeps at most RateLimitBurst= lines of a service in RateLimitIntervalSec= (10,000 in
30 s by default) and drops the rest, errors included ("Suppressed N messages"). A line written
once per alert transition or per notification sent is fine on a quiet host and floods the
journal in a storm. So such a line is written at its level while a token bucket allows (`burst`
at once, `rate` a second after that); past it the caller writes it at debug level, and the
budget counts it under a key the caller chooses, for one summary line at most every `every`
seconds (`take_held`). The counters behind them (metrics) count everything.

Thread-safe: the notification senders (a thread per lane) share one budget.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

BURST = 200  # lines at once
RATE = 20.0  # lines a second, past the burst
SUMMARY_EVERY = 10.0  # seconds between two summaries of the lines held back
BUDGET = f"the log's budget ({RATE:g} a second, {BURST} at once)"  # as the summaries say it

K = TypeVar("K", bound=Hashable)  # what the lines held back are counted by


class LineBudget(Generic[K]):
    def __init__(
        self,
        burst: int = BURST,
        rate: float = RATE,
        every: float = SUMMARY_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = float(burst)
        self._rate = rate
        self._every = every
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._filled = monotonic()
        self._held: collections.Counter[K] = collections.Counter()
        self._told = -every - 1.0  # (monotonic) the last summary

    def allow(self, key: K) -> bool:
        """True: write this line at its level. False: write it at debug level; it is counted
        under `key` for the next summary."""
        with self._lock:
            mono = self._monotonic()
            self._tokens = min(self._burst, self._tokens + (mono - self._filled) * self._rate)
            self._filled = mono
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            self._held[key] += 1
            return False

    def take_held(self, force: bool = False) -> collections.Counter[K] | None:
        """The lines held back since the last summary, by key, when one is due: `every` seconds
        after the last (or `force`: at stop). None when nothing is held or it is not time yet."""
        with self._lock:
            if not self._held:
                return None
            mono = self._monotonic()
            if not force and mono - self._told < self._every:
                return None
            held, self._held = self._held, collections.Counter()
            self._told = mono
            return held


def by_part(
    held: collections.Counter[tuple[str, str]],
) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """The lines held back under (a, b) keys, counted by a and by b (a summary's two views)."""
    firsts: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()
    for (first, second), n in held.items():
        firsts[first] += n
        seconds[second] += n
    return firsts, seconds


def summary(held: collections.Counter[tuple[str, str]], by: str) -> dict[str, Any]:
    """A summary line's fields: how many lines were held back, how many of each kind (the
    second part of their keys), and how many under `by` for each first part."""
    firsts, seconds = by_part(held)
    return {
        "count": sum(seconds.values()),
        **{kind: seconds[kind] for kind in sorted(seconds)},
        by: dict(sorted(firsts.items())),
    }
