"""The events the engine reads, one type per concept: a log line (`LogEvent`), a metric
sample (`Sample`), and a source's log lines read together (`LogLines`, the protocol the
engine reads a batch by; `LogBatch`, the batch collectors, `alerter test` and `alerter
replay` make). Pure: a LogBatch parses a line with the function it was given, when someone
looks at the line."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, overload

EMPTY: Mapping[str, str] = {}
_NO_FIELDS: frozenset[str] = frozenset()
SEP = "\n"


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


# Prometheus's staleness marker (model/value.StaleNaN): one NaN bit pattern. Any other NaN is
# a value (a gauge that computed 0/0), present like any other.
STALE_NAN: float = struct.unpack(">d", bytes.fromhex("7ff0000000000002"))[0]
_STALE_BITS = struct.pack(">d", STALE_NAN)


def is_stale(value: float) -> bool:
    """True for the staleness marker alone, not for a NaN value."""
    return value != value and struct.pack(">d", value) == _STALE_BITS


Event = LogEvent | Sample


# (ParseLine: a parser's `parse`: a line's fields, None when it does not parse, and its time)
ParseLine = Callable[[str], tuple[Mapping[str, str] | None, float | None]]
# a parser's `spans`: (lines, end offset, time) of each run of one head in a text
Spans = Callable[[str], list[tuple[int, int, float | None]]]


class LogLines(Protocol):
    """One source's log lines read together, as the engine reads them (the engine is written
    against this; `LogBatch` is what the collectors, `alerter test` and replay make).

    Text first: `text` is the lines joined by newlines, searched whole, None only when a line
    holds a newline itself (a joined multiline event: such a batch is judged line by line).
    `lines` are read only for the lines a rule matched, `event(i)` built (and its line parsed)
    only for a line whose fields a rule reads. `now` is when the batch was read: the time of
    an event whose parser reads none in its line. `backlog`: read behind the end of its
    input (more was waiting), not as it was written."""

    @property
    def source(self) -> str: ...

    @property
    def backlog(self) -> bool: ...

    @property
    def now(self) -> float: ...

    @property
    def text(self) -> str | None: ...

    @property
    def lines(self) -> Sequence[str]: ...

    def __len__(self) -> int: ...

    @property
    def fieldless(self) -> bool:
        """True when no event of the batch has fields (its lines are not parsed: the `none`
        parser): a field reads '' on every line."""
        ...

    @property
    def field_names(self) -> frozenset[str] | None:
        """The names its events' fields can have (empty when `fieldless`; the syslog parser's
        fixed set, a regex parser's groups), None when any: a field not named reads '' on
        every line."""
        ...

    def event(self, i: int) -> LogEvent:
        """The event of line i (0 <= i < len), built when first asked for."""

    def tail(self, n: int) -> list[str]:
        """The last n lines (fewer when the batch has fewer), oldest first."""

    def at_times(self) -> Sequence[tuple[float, LogLines]]:
        """The lines as runs of one event time each, in order (DESIGN "Event time")."""

    def runs(self, wanted: tuple[str, ...] | None) -> Sequence[tuple[float, LogLines, int]]:
        """`at_times` with, for each run, how many of its lines had their time read. `wanted`
        (literals, none holding a newline): only the lines holding one of them are counted by
        a rule, so only their times need be read (alerter.core.eventtime.runs_of_wanted)."""


class LogBatch(Sequence[LogEvent]):
    """Lines of one source read together (a `LogLines`), as a sequence of LogEvents each
    parsed and built when someone first looks at it.

    Made from the block a collector read (`text`: the lines joined by newlines, split into
    `lines` only when someone reads one), from `lines` (joined into `text` only when someone
    asks for it, unless a line holds a newline), or from `events` already built (all of
    `source`; `of_events`). It is whole when made: nothing is set on it afterwards; what it
    derives (the split lines, the joined text, each built event) it derives once, when first
    asked. A line is parsed at most once, with the parser's `parse`, and a line no one looks
    at (most lines of a busy log match no rule, and a rule that reads only the text or its
    regex groups looks at no event) is never parsed. `parse` None: the lines have no fields
    (the `none` parser), nothing to parse.

    `parse_errors` counts the lines parsed so far that did not parse (their events have no
    fields); whoever processed the batch reads it afterwards (the daemon counts it in
    `alerter_events_dropped_total{reason="parse_error"}` once the engine is done with the batch).

    An event's time is the time its parser reads in the line, else `now` (when the block was
    read). The engine places each line at that time (`at_times`: the lines' times read with
    the parser's `times`, the timestamp alone, not the line's fields; no `times`: every line
    at `now`).

    `backlog`: the collector read the batch behind the end of its input (more was waiting
    when it read it: a file read from its beginning, catching up after downtime), not as the
    lines were written; what tells a backlog's late lines from live ones (DESIGN "Event time").

    One thread at a time: the collector makes the batch and hands it over (through the bus's
    lock); from then on only the thread that processes it reads it and fills its caches.
    """

    __slots__ = (
        "_base",
        "_built",
        "_every",
        "_joined",
        "_lines",
        "_n",
        "_names",
        "_parse",
        "_some",
        "_spans",
        "_text",
        "_times",
        "backlog",
        "now",
        "parse_errors",
        "source",
    )

    def __init__(
        self,
        source: str,
        now: float,
        parse: ParseLine | None,
        lines: list[str] | None = None,
        text: str | None = None,
        *,
        events: Sequence[LogEvent] | None = None,
        times: Callable[[list[str]], list[float | None]] | None = None,
        spans: Spans | None = None,
        base: tuple[LogBatch, int] | None = None,
        field_names: frozenset[str] | None = None,
        every_time: bool = False,
        backlog: bool = False,
    ) -> None:
        if events is not None:
            lines = [e.line for e in events]
            parse = None
        if lines is None and text is None:
            raise ValueError("a LogBatch needs its lines, its text or its events")
        self.source = source
        self.now = now
        self.backlog = backlog
        self.parse_errors = 0
        self._parse = parse
        self._times = times  # the parser's `times` (None: its lines carry no time)
        self._spans = spans  # the parser's `spans`: `times` read in the text, not its lines
        # its `times` is cheap for every line (syslog's, by runs): read all, never gated
        self._every = every_time
        self._names = field_names  # the names `parse` can give fields (None: any)
        self._base = base  # (batch, offset): a part of that batch, whose events are built there
        self._lines = lines
        self._text = text
        self._joined = text is not None  # `_text` is known (it may be None: a line holds "\n")
        self._n = -1 if lines is None else len(lines)  # from text: counted when first asked
        self._built: list[LogEvent] | None = list(events) if events is not None else None
        self._some: dict[int, LogEvent] = {}  # events built one by one, before all were

    @classmethod
    def of_events(
        cls, source: str, now: float, events: Sequence[LogEvent], backlog: bool = False
    ) -> LogBatch:
        """A batch of events already built (all of `source`): nothing to parse."""
        return cls(source, now, None, events=events, backlog=backlog)

    @property
    def text(self) -> str | None:
        """The lines joined by newlines (the block as read, or joined once when first asked
        for); None when a line holds a newline (a multiline event)."""
        if not self._joined:
            lines = self._lines
            assert lines is not None
            text = SEP.join(lines)  # unless a line holds a newline: counted in C
            self._text = text if text.count(SEP) == max(len(lines) - 1, 0) else None
            self._joined = True
        return self._text

    @property
    def lines(self) -> Sequence[str]:
        """The lines: a list, or, for a batch made from text not split yet, a view that splits
        it when a line is first read."""
        return self._lines if self._lines is not None else _LazyLines(self)

    def _split(self) -> list[str]:
        if self._lines is None:
            assert self._text is not None
            self._lines = self._text.split(SEP)
        return self._lines

    @property
    def split(self) -> bool:
        """Whether the lines are held (a batch made from text is split only when asked)."""
        return self._lines is not None

    @property
    def block(self) -> str | None:
        """The text if the batch holds it now (made from it, or joined already): what the bus
        counts in a queued batch, without joining anything."""
        return self._text

    def tail(self, n: int) -> list[str]:
        """The last n lines, oldest first (from the text's end when the lines are not split)."""
        if self._lines is not None or self._text is None:
            return list(self._split()[-n:]) if n > 0 else []
        text = self._text
        start = len(text)
        for _ in range(n):
            start = text.rfind(SEP, 0, start)
            if start < 0:
                break
        return text[start + 1 :].split(SEP) if n > 0 else []

    def at_times(self) -> list[tuple[float, LogBatch]]:
        """The lines as (time, batch) runs of one event time each, in line order: the batch
        itself when it is one run (alerter.core.eventtime)."""
        return [(t, part) for t, part, _ in self.runs(None)]

    def runs(self, wanted: tuple[str, ...] | None) -> list[tuple[float, LogBatch, int]]:
        """`at_times` with how many lines of each run had their time read; with `wanted`,
        only the lines holding one of those literals (the others ride in a neighbour's run),
        unless the parser's `times` is cheap for every line (`every_time`: syslog's)."""
        from alerter.core import eventtime  # (it builds LogBatches)

        if self._built is not None:
            return eventtime.runs_of_events(self, self._built)
        if self._times is None or not len(self):
            return [(self.now, self, len(self))]
        if wanted is not None and not self._every:
            return eventtime.runs_of_wanted(self, self._split(), self._times, wanted)
        if self._spans is not None and self._lines is None and self._text is not None:
            return eventtime.runs_of_spans(self, self._text, self._spans)
        return eventtime.runs_of_lines(self, self._split(), self._times)

    def parsed_lines(self) -> list[int]:
        """The indexes of the lines whose events were built (parsed) so far, in order."""
        if self._built is not None:
            return list(range(len(self._built)))
        return sorted(self._some)

    def pick(self, indexes: Iterable[int]) -> LogBatch:
        """A batch of these lines (same source, time and parser), none parsed yet."""
        if self._built is not None and self._parse is None:
            built = self._built
            return LogBatch(
                self.source,
                self.now,
                None,
                events=[built[i] for i in indexes],
                backlog=self.backlog,
            )
        lines = self._split()
        picked = [lines[i] for i in indexes]
        return LogBatch(
            self.source,
            self.now,
            self._parse,
            picked,
            times=self._times,
            field_names=self._names,
            every_time=self._every,
            backlog=self.backlog,
        )

    def part(self, start: int, end: int) -> LogBatch:
        """Lines start..end-1 as a batch of their own (same source, read time and parser)
        whose events are this batch's: built, and parse errors counted, here."""
        lines = self._split()[start:end]
        return LogBatch(
            self.source, self.now, self._parse, lines, base=(self, start), backlog=self.backlog
        )

    def part_of_text(self, start: int, first: int, last: int) -> LogBatch:
        """`part(start, ...)` of a batch made from text not split yet, its lines the text's
        text[first:last] (no split, no join; counted when first asked)."""
        assert self._text is not None
        return LogBatch(
            self.source,
            self.now,
            self._parse,
            None,
            self._text[first:last],
            base=(self, start),
            backlog=self.backlog,
        )

    def _make(self, i: int) -> LogEvent:
        if self._base is not None:
            batch, offset = self._base
            return batch.event(offset + i)
        line = self._split()[i]
        parse = self._parse
        if parse is None:
            return LogEvent(self.now, self.source, line, EMPTY)
        fields, t = parse(line)
        if fields is None:
            self.parse_errors += 1
            fields = EMPTY
        return LogEvent(self.now if t is None else t, self.source, line, fields)

    @property
    def fieldless(self) -> bool:
        if self._base is not None:
            return self._base[0].fieldless
        return self._parse is None and self._built is None

    @property
    def field_names(self) -> frozenset[str] | None:
        if self._base is not None:
            return self._base[0].field_names
        if self._built is not None:
            return None
        return _NO_FIELDS if self._parse is None else self._names

    def event(self, i: int) -> LogEvent:
        """The event of line i (0 <= i < len), built (its line parsed) when first asked for."""
        if self._built is not None:
            return self._built[i]
        ev = self._some.get(i)
        if ev is None:
            ev = self._some[i] = self._make(i)
        return ev

    def events(self) -> list[LogEvent]:
        """Every event, built once."""
        if self._built is None:
            some, make = self._some, self._make
            self._built = [some.get(i) or make(i) for i in range(len(self))]
            self._some = {}
        return self._built

    def __len__(self) -> int:
        if self._n < 0:  # from text: lines counted when first asked (a C count of newlines)
            assert self._text is not None
            self._n = self._text.count(SEP) + 1
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
            return [self.event(j) for j in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("LogBatch index out of range")
        return self.event(i)

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
        return self._batch._split()[i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._batch._split())

    def __eq__(self, other: object) -> bool:
        return self._batch._split() == other

    __hash__ = None  # type: ignore[assignment]
