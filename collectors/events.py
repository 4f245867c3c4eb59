"""The values that flow from collectors to the rules engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

EMPTY: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log line (or joined multiline event) with the fields its parser extracted.

    `time` is epoch seconds: the time parsed from the line when the parser has one, else the
    time it was read.
    """

    time: float
    source: str  # collector name
    line: str
    fields: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Sample:
    """One metric sample. `labels` never includes `__name__`."""

    time: float
    source: str  # collector name
    name: str
    labels: Mapping[str, str]
    value: float


Event = LogEvent | Sample


class LogBatch(Sequence[LogEvent]):
    """Lines of one source read together, as a sequence of LogEvents built on access.

    The collector parses every line when it reads it (to count parse errors), but builds a
    line's LogEvent only when someone indexes or iterates: most lines of a busy log match no
    rule, and a consumer that reads `lines` first (a substring or batch-wide regex pre-filter)
    builds events for the few lines it keeps. Each event is built once: indexing keeps the
    events it built, iterating builds and keeps them all.
    """

    __slots__ = ("_built", "_make", "_some", "lines", "source")

    def __init__(self, source: str, lines: list[str], make: Callable[[int], LogEvent]) -> None:
        self.source = source
        self.lines = lines
        self._make = make
        self._built: list[LogEvent] | None = None  # all of them, once iterated
        self._some: dict[int, LogEvent] = {}  # those indexed before that

    def events(self) -> list[LogEvent]:
        """Every event, built once."""
        if self._built is None:
            some, make = self._some, self._make
            self._built = [some.get(i) or make(i) for i in range(len(self.lines))]
        return self._built

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, i: int) -> LogEvent: ...

    @overload
    def __getitem__(self, i: slice) -> list[LogEvent]: ...

    def __getitem__(self, i: int | slice) -> LogEvent | list[LogEvent]:
        if self._built is not None:
            return self._built[i]
        n = len(self.lines)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("LogBatch index out of range")
        ev = self._some.get(i)
        if ev is None:
            ev = self._some[i] = self._make(i)
        return ev

    def __iter__(self) -> Iterator[LogEvent]:
        return iter(self.events())

    def __repr__(self) -> str:
        return f"LogBatch(source={self.source!r}, lines={len(self.lines)})"
