"""The small interfaces every collector is written against.

Collectors import nothing from `alerter/` or `rules/`, only `core/` (the events they make; a test
in tests/test_layout.py holds them to it): the daemon hands them a `Sink` (the bus), a
`PositionStore` (the state store) and `CollectorStats` (self-metrics) that satisfy these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from alerter.core.events import LogBatch, Sample

Ack = Callable[[], None]


class Sink(Protocol):
    """Where a collector hands what it read: a door per kind, so the kind travels with the
    type (the bus, its gates and the engine never look at a payload to tell which it is).

    Both block while the bus is full (back-pressure) and return False when the daemon is
    stopping.
    """

    def put_lines(self, batch: LogBatch, ack: Ack | None = None) -> bool:
        """Queue one source's log lines for the engine; `ack` is called once the engine has
        processed them (or at once, when a throttle gate dropped them all)."""

    def put_samples(self, samples: Sequence[Sample]) -> bool:
        """Queue metric samples for the engine."""


class PositionStore(Protocol):
    """Durable per-collector positions (file offsets, journal cursors)."""

    def load_positions(self, collector: str) -> dict[str, str]: ...

    def save_positions(self, collector: str, positions: dict[str, str]) -> None:
        """Replace or add these keys atomically."""

    def delete_positions(self, collector: str, keys: Sequence[str]) -> None: ...


class CollectorStats(Protocol):
    def dropped(self, collector: str, reason: str, count: int = 1) -> None: ...

    def up(self, collector: str, is_up: bool) -> None: ...


class NullPositions:
    """A PositionStore that remembers nothing: every read starts afresh (replay's reading of
    a journal export through the journald collector; benches)."""

    def load_positions(self, collector: str) -> dict[str, str]:
        return {}

    def save_positions(self, collector: str, positions: dict[str, str]) -> None:
        pass

    def delete_positions(self, collector: str, keys: Sequence[str]) -> None:
        pass


class NullStats:
    """CollectorStats that count nothing."""

    def dropped(self, collector: str, reason: str, count: int = 1) -> None:
        pass

    def up(self, collector: str, is_up: bool) -> None:
        pass


@runtime_checkable
class Collector(Protocol):
    """A source with its own thread between start and stop (file tail, journald, prometheus)."""

    name: str

    def start(self, sink: Sink) -> None: ...

    def stop(self) -> None:
        """Stop reading; return once the reader thread has ended (bounded wait)."""


@runtime_checkable
class PollingCollector(Protocol):
    """A periodic source (host, command, http); the daemon schedules `collect`."""

    name: str
    interval: float

    def collect(self, now: float) -> list[Sample]:
        """Take one reading. Failures become samples (`up 0`), never exceptions."""
