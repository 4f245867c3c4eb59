"""Live lines that keep arriving too old for a rule: told in the log and the status.

A parser that reads the wrong time (an app writing naive UTC stamps read as local time an
hour ahead of UTC) places every line an hour in the past: each is late for every rule with a
shorter window, counted by none of them and counted in `alerter_events_late_total` (DESIGN
"Event time"). A rule with a longer window (a day's) still counts them, and the shorter ones
miss them all the same: so lines too old for any rule are what is watched here, not only
those too old for every rule. Late lines are also what a backlog gives (`start_at:
beginning`, catching up after downtime), and that is no fault.

The engine reports each batch's lines too old for some rule with the age of the newest at
its clock, the rules that missed it and whether the batch was read behind the end of its
input (`EngineHooks.events_too_old`, `LogBatch.backlog`: the file collector read a whole
block with more of the file waiting; journald's last entry was written before journalctl
started, or more of its output was waiting). A backlog's batches say nothing of live lines
and are not watched, however slowly it is read. The others (lines read as they are written,
and a backlog's last batch, which reaches the end) are told by their age: a backlog's late
lines get younger as it is read, its lines' times running ahead of the clock; lines read as
they are written keep their age. So a collector is taken to read live late lines when its
late lines have kept one age (within AGE_JITTER of the first) for at least STEADY_FOR
seconds of the daemon's clock; then `events_late` is logged, at most once per WARN_EVERY per
collector, and the status shows it while they keep coming (the last within WARN_EVERY).
What is still taken for live lines: journal entries written after journalctl started that
journalctl itself reads slower than about 1.25x real time (alerter keeping up with it,
nothing waits), whose age stays within AGE_JITTER over STEADY_FOR (README, Event time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import structlog

from alerter.core.values import format_duration

log = structlog.get_logger(__name__)

STEADY_FOR = 60.0  # seconds of late lines of one age before they are taken as live
AGE_JITTER = 15.0  # how far their age may stray from the first (read delays, whole-second stamps)
WARN_EVERY = 600.0  # one warning per collector per this many seconds at most


@dataclass(slots=True)
class _Run:
    """One collector's late lines of one age since `since`."""

    age: float  # the first's, which the others kept (within AGE_JITTER): the one told
    since: float
    last: float  # when the last were reported
    lines: int = 0  # since `since`
    untold: int = 0  # since the last warning
    missed: tuple[tuple[str, float], ...] = ()  # the rules the last missed, shortest first


class LateLines:
    """Per collector: whether its late lines are live (module doc); fed by the engine's hook
    (alerter.runtime.running.EngineMetrics), read by the status."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._told: dict[str, float] = {}  # collector -> when last warned

    def note(
        self,
        collector: str,
        count: int,
        age: float,
        now: float,
        missed: tuple[tuple[str, float], ...] = (),
        backlog: bool = False,
    ) -> None:
        """`count` lines of `collector` were too old for the rules `missed` ((alertname,
        window), shortest first); the newest was `age` seconds old at `now`. `backlog`: their
        batch was read behind the end of its input, so they say nothing of live lines."""
        if backlog:
            return
        run = self._runs.get(collector)
        if run is None or abs(age - run.age) > AGE_JITTER or now < run.since:
            run = self._runs[collector] = _Run(age, now, now)
        run.last = now
        run.missed = missed
        run.lines += count
        run.untold += count
        if now - run.since < STEADY_FOR or now - self._told.get(collector, -math.inf) < WARN_EVERY:
            return
        self._told[collector] = now
        log.warning(
            "events_late",
            collector=collector,
            lines=run.untold,
            age_s=round(run.age),
            too_old_for=rules_text(run.missed),
            hint=hint(run.age),
        )
        run.untold = 0

    def forget(self) -> None:
        """After a reload (a parser may have been fixed): what was seen no longer says
        anything; when each collector was last told still holds."""
        self._runs.clear()

    def status(self, now: float) -> dict[str, dict[str, Any]]:
        """The collectors reading live late lines now, for the status document."""
        return {
            c: {
                "lines": run.lines,
                "age_seconds": round(run.age),
                "since": run.since,
                "too_old_for": rules_text(run.missed),
                "hint": hint(run.age),
            }
            for c, run in sorted(list(self._runs.items()))  # (a copy: the engine's thread adds)
            if run.last - run.since >= STEADY_FOR and now - run.last <= WARN_EVERY
        }


def hint(age: float) -> str:
    """What an operator should check, for live lines `age` seconds old. No parser takes a
    zone of its own: a time without one is read as the daemon's local time."""
    return (
        f"lines read as they are written are {about(age)} old: check the parser's time_format "
        "and the lines' zone (a time without a zone is read as local time: add the zone to "
        "the lines and %z to time_format)"
    )


def rules_text(missed: tuple[tuple[str, float], ...], most: int = 3) -> str:
    """The rules that missed the lines as the warning says them, shortest window first:
    `SSHBruteForce (10m), Burst (30m) and 2 more`."""
    said = ", ".join(f"{name} ({format_duration(window)})" for name, window in missed[:most])
    return f"{said} and {len(missed) - most} more" if len(missed) > most else said


def about(seconds: float) -> str:
    """An age as the hint says it: `~1h`, `~5.5h`, `~20m`, `~45s`, `~2d`."""
    if seconds >= 48 * 3600:
        return f"~{round(seconds / 86400):d}d"
    if seconds >= 3300:
        return f"~{round(seconds / 1800) / 2:g}h"
    if seconds >= 90:
        return f"~{round(seconds / 60):d}m"
    return f"~{round(seconds):d}s"
