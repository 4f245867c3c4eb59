"""What the rules engine reports as it runs (template errors, evicted keys, evaluation times,
lines too old to count), for the daemon's self-metrics: the `EngineHooks` port the engine is
written against, and `NoHooks`, which reports nothing."""

from __future__ import annotations

from typing import Protocol


class EngineHooks(Protocol):
    """What the engine reports, for the daemon's self-metrics (alerter.runtime.running.
    EngineMetrics implements it)."""

    def template_error(self, group: str, message: str) -> None: ...

    def key_evicted(self, alertname: str, count: int, reason: str) -> None:
        """`count` keys of the rule were dropped; reason "max_keys": the least recently
        updated keys, evicted past the rule's max_keys (reported once per batch)."""

    def evaluation_duration(self, group: str, seconds: float) -> None:
        """A group's evaluation took `seconds` (reported when `tick` gets a timer)."""

    def events_uncounted(self, source: str, count: int, age: float, now: float) -> None:
        """`count` lines of `source` were older than the window of every rule of the source
        at the clock `now`: no rule counted them (DESIGN "Event time"; replay's "skipped").
        `age`: how old the newest of them was at `now` (reported once per batch that has
        any). The wider set, too old for some rule, is `events_too_old`'s (what
        `alerter_events_late_total` counts)."""

    def events_too_old(
        self,
        source: str,
        count: int,
        age: float,
        now: float,
        missed: tuple[tuple[str, float], ...],
        backlog: bool = False,
    ) -> None:
        """`count` lines of `source` were older than the window of some rule of the source at
        the clock `now` (those too old for every rule too): that rule did not count them.
        `age`: how old the newest of them was at `now`; `missed`: the rules that missed it,
        (alertname, how old a line may be and still count), shortest first; `backlog`: the
        batch was read behind the end of its input (`LogLines.backlog`). Reported once per
        batch that has any."""


class NoHooks:
    """Hooks that report nothing (the engine of `alerter test`, replay and tests)."""

    def template_error(self, group: str, message: str) -> None:
        pass

    def key_evicted(self, alertname: str, count: int, reason: str) -> None:
        pass

    def evaluation_duration(self, group: str, seconds: float) -> None:
        pass

    def events_uncounted(self, source: str, count: int, age: float, now: float) -> None:
        pass

    def events_too_old(
        self,
        source: str,
        count: int,
        age: float,
        now: float,
        missed: tuple[tuple[str, float], ...],
        backlog: bool = False,
    ) -> None:
        pass
