"""Reloads: asked for from any thread, run by the main loop, and what the last one left behind.

SIGHUP and POST /-/reload ask; the main loop runs the reload between two of its turns (a reload
replaces what the loop works on) and tells whoever waits how it went. The last reload's error
and its notes (what only a restart applies) are what the API, `alerter status` and systemd's
STATUS= show. `dropped_by_reload` and `not_held` are what a reload compares: the firing alerts
that the new rules no longer have end, as Prometheus resolves the alerts of a deleted rule, and
those whose groups a changed route tree dropped go through the new tree.
"""

from __future__ import annotations

import dataclasses
import threading

import structlog

from alerter.rules.alert import Alert, Transition

log = structlog.get_logger(__name__)


class Reloads:
    """The requests (any thread) and the outcome of reloads, which the main loop runs."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self.last_notes: list[str] = []  # what the last good reload did not apply
        self._requested = threading.Event()
        self._cond = threading.Condition()
        self._generation = 0  # reloads run so far
        self._last_ok = True

    def request(self) -> None:
        """Ask for a reload (any thread: a signal handler too)."""
        self._requested.set()

    def request_and_wait(self, timeout: float) -> bool:
        """Ask for a reload (as SIGHUP does) and wait for the outcome: False if it failed or
        was not done within `timeout`."""
        with self._cond:
            gen = self._generation
            self._requested.set()
            done = self._cond.wait_for(lambda: self._generation != gen, timeout)
            return done and self._last_ok

    def take(self) -> bool:
        """The main loop: whether a reload was asked for since it last took one."""
        if not self._requested.is_set():
            return False
        self._requested.clear()
        return True

    def done(self, ok: bool) -> None:
        """The main loop ran the reload taken: tell those waiting."""
        with self._cond:
            self._last_ok = ok
            self._generation += 1
            self._cond.notify_all()

    def failed(self, error: str, problems: list[str]) -> None:
        self.last_error = error
        for p in problems:
            log.error("config_reload_failed", problem=p)

    def applied(self, notes: list[str]) -> None:
        """The new config runs: no error, and `notes` say what waits for a restart."""
        self.last_error = None
        self.last_notes = notes
        for note in self.last_notes:
            log.warning("config_reload_partial", note=note)


def dropped_by_reload(before: list[Alert], after: list[Alert], now: float) -> list[Transition]:
    """Resolved transitions for firing alerts that the reloaded engine no longer has."""
    kept = {a.fingerprint for a in after}
    return [
        Transition(now, "firing", dataclasses.replace(a, state="resolved", resolved_at=now))
        for a in before
        if a.state == "firing" and a.fingerprint not in kept
    ]


def not_held(engine: list[Alert], held: list[Alert], now: float) -> list[Transition]:
    """Firing transitions for the engine's firing alerts that the dispatcher does not hold: their
    groups were dropped because the route tree changed (another receiver, `group_by`, routes
    added or removed), by a reload or while alerter was stopped. Handed to the dispatcher
    again, they go through the new tree, as Alertmanager sends the alerts it holds through
    its new routes on a reload."""
    kept = {a.fingerprint for a in held}
    return [
        Transition(now, "pending", a)
        for a in engine
        if a.state == "firing" and a.fingerprint not in kept
    ]
