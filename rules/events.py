"""The events the engine reads, one type per concept: a log line (`LogEvent`), a metric
sample (`Sample`), and a source's log lines read together (`LogBatch`). Collectors make them
(collectors/events.py re-exports them), `alerter test` and `alerter replay` too. Pure: a
LogBatch parses a line with the function it was given, when someone looks at the line."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


# (ParseLine: a parser's `parse`: a line's fields, None when it does not parse, and its time)
ParseLine = Callable[[str], tuple[Mapping[str, str] | None, float | None]]


class LogBatch(Sequence[LogEvent]):
    """Lines of one source read together, as a sequence of LogEvents each parsed and built
    when someone first looks at it.

    The batch holds the lines (or the block's text, `text`, split into `lines` only when
    someone asks for them) and the parser's `parse`; making it parses nothing. Indexing or
    iterating parses that line, builds its LogEvent and keeps it: a line is parsed at most
    once, and a line no one looks at (most lines of a busy log match no rule, and a rule
    that reads only the text or its regex groups looks at no event) is never parsed.
    `parse` None: the lines have no fields (the `none` parser), nothing to parse.

    `parse_errors` counts the lines parsed so far that did not parse (their events have no
    fields); whoever processed the batch reads it afterwards (the daemon counts it in
    `alerter_events_dropped_total{reason="parse_error"}` once the engine is done with the batch).

    An event's time is the time its parser reads in the line, else `now` (when the block was
    read). A line no one looks at is never parsed, so its time is never read: the engine
    places every line of a batch at the time it processes the batch.

    A batch made `of_events` holds events already built (a list of LogEvents of one source).

    One thread at a time: the collector makes the batch and hands it over (through the bus's
    lock); from then on only the thread that processes it reads it and fills its caches.

    `text`, when set, is the batch's lines joined by newlines (no line holds one): the block
    as it was read, which the engine searches whole, so a block whose lines no rule looks at
    individually is never split into a million strings.
    """

    __slots__ = (
        "_built",
        "_lines",
        "_n",
        "_parse",
        "_some",
        "now",
        "parse_errors",
        "source",
        "text",
    )

    def __init__(
        self,
        source: str,
        now: float,
        parse: ParseLine | None,
        lines: list[str] | None = None,
        text: str | None = None,
    ) -> None:
        if lines is None and text is None:
            raise ValueError("a LogBatch needs its lines or its text")
        self.source = source
        self.now = now
        self.text = text
        self.parse_errors = 0
        self._parse = parse
        self._lines = lines
        self._n = -1 if lines is None else len(lines)  # from text: counted when first asked
        self._built: list[LogEvent] | None = None  # all of them, once iterated
        self._some: dict[int, LogEvent] = {}  # those indexed before that

    @classmethod
    def of_events(cls, source: str, now: float, events: Sequence[LogEvent]) -> LogBatch:
        """A batch of events already built (all of `source`): nothing to parse."""
        b = cls(source, now, None, [e.line for e in events])
        b._built = list(events)
        return b

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            assert self.text is not None
            self._lines = self.text.split("\n")
        return self._lines

    @property
    def split(self) -> bool:
        """Whether `lines` exists (a batch made from text is split only when asked)."""
        return self._lines is not None

    @property
    def lazy_lines(self) -> Sequence[str]:
        """`lines`, or a view of them that splits the text when a line is first read."""
        return self._lines if self._lines is not None else _LazyLines(self)

    def parsed_lines(self) -> list[int]:
        """The indexes of the lines whose events were built (parsed) so far, in order."""
        if self._built is not None:
            return list(range(len(self._built)))
        return sorted(self._some)

    def pick(self, indexes: Iterable[int]) -> LogBatch:
        """A batch of these lines (same source, time and parser), none parsed yet."""
        lines = self.lines
        return LogBatch(self.source, self.now, self._parse, [lines[i] for i in indexes])

    def _make(self, i: int) -> LogEvent:
        line = self.lines[i]
        parse = self._parse
        if parse is None:
            return LogEvent(self.now, self.source, line, EMPTY)
        fields, t = parse(line)
        if fields is None:
            self.parse_errors += 1
            fields = EMPTY
        return LogEvent(self.now if t is None else t, self.source, line, fields)

    def events(self) -> list[LogEvent]:
        """Every event, built once."""
        if self._built is None:
            some, make = self._some, self._make
            self._built = [some.get(i) or make(i) for i in range(len(self))]
            self._some = {}
        return self._built

    def __len__(self) -> int:
        if self._n < 0:  # from text: lines counted when first asked (a C count of newlines)
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
            ev = self._some[i] = self._make(i)
        return ev

    def __iter__(self) -> Iterator[LogEvent]:
        return iter(self.events())

    def __repr__(self) -> str:
        return f"LogBatch(source={self.source!r}, lines={len(self)})"


class _LazyLines(Sequence[str]):
    """The lines of a batch made from text: split (by the batch) only when one is read."""

    __slots__ = ("_batch",)

    def __init__(self, batch: LogBatch) -> None:
        self._batch = batch

    def __len__(self) -> int:
        return len(self._batch)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...

    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        return self._batch.lines[i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._batch.lines)
