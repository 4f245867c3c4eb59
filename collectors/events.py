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

    `text`, when set, is the batch's lines joined by newlines (no line holds one): the block
    as it was read, which the engine searches whole. A batch made `from_text` splits it into
    `lines` only when someone asks for them (a line's own event, say), so a block whose lines
    no rule looks at individually is never split into a million strings.
    """

    __slots__ = ("_built", "_lines", "_make", "_n", "_some", "source", "text")

    def __init__(
        self,
        source: str,
        lines: list[str],
        make: Callable[[int], LogEvent],
        text: str | None = None,
    ) -> None:
        self.source = source
        self._lines: list[str] | None = lines
        self._n = len(lines)
        self.text = text
        # (the batch is passed in, not closed over: no reference cycle)
        self._make: Callable[[LogBatch, int], LogEvent] = lambda _, i: make(i)
        self._built: list[LogEvent] | None = None  # all of them, once iterated
        self._some: dict[int, LogEvent] = {}  # those indexed before that

    @classmethod
    def from_text(
        cls, source: str, text: str, make: Callable[[LogBatch, int], LogEvent]
    ) -> LogBatch:
        """A batch of the lines of `text` (joined by newlines, without a final one); `make`
        gets the batch and an index, and reads the line from `lines`."""
        b = cls.__new__(cls)
        b.source, b.text, b._lines, b._n, b._make = source, text, None, -1, make
        b._built, b._some = None, {}
        return b

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            assert self.text is not None
            self._lines = self.text.split("\n")
        return self._lines

    @property
    def split(self) -> bool:
        """Whether `lines` exists (a batch made `from_text` is split only when asked)."""
        return self._lines is not None

    def events(self) -> list[LogEvent]:
        """Every event, built once."""
        if self._built is None:
            some, make = self._some, self._make
            self._built = [some.get(i) or make(self, i) for i in range(len(self))]
        return self._built

    def __len__(self) -> int:
        if self._n < 0:  # from_text: lines counted when first asked (a C count of newlines)
            assert self.text is not None
            self._n = self.text.count("\n") + 1
        return self._n

    @overload
    def __getitem__(self, i: int) -> LogEvent: ...

    @overload
    def __getitem__(self, i: slice) -> list[LogEvent]: ...

    def __getitem__(self, i: int | slice) -> LogEvent | list[LogEvent]:
        if self._built is not None:
            return self._built[i]
        n = len(self)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("LogBatch index out of range")
        ev = self._some.get(i)
        if ev is None:
            ev = self._some[i] = self._make(self, i)
        return ev

    def __iter__(self) -> Iterator[LogEvent]:
        return iter(self.events())

    def __repr__(self) -> str:
        return f"LogBatch(source={self.source!r}, lines={len(self)})"
