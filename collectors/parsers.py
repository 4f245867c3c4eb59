"""Line parsers: regex, json, logfmt, syslog (RFC 3164 and 5424, in collectors/syslog.py), none.

A parser turns one line into `(fields, time)`: fields is None when the line does not parse (the
line is still an event, with no fields, and counts as a `parse_error`), time is epoch seconds or
None when the line carries none. `batch()` makes the collector's LogBatch, whose lines are
parsed one by one when a consumer looks at them (core/events.py); `events()` parses and
builds every event of some lines at once; `times()` gives only the lines' times (replay orders
lines by them). Timestamps are cached by their text (collectors/timefmt.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from alerter.collectors.syslog import FIELDS as SYSLOG_FIELDS
from alerter.collectors.syslog import SyslogParser
from alerter.collectors.timefmt import check_time_format, time_cache
from alerter.core.events import EMPTY, LogBatch, LogEvent, Spans
from alerter.core.saferegex import compile_pattern  # a leaf module: no engine, only regex safety

PARSER_TYPES = ("regex", "json", "logfmt", "syslog", "none")

Fields = Mapping[str, str]
ParseResult = tuple[Fields | None, float | None]


@dataclass(frozen=True, slots=True)
class ParserConfig:
    """`parser:` of a file collector. `time_format`: strptime format, epoch, epoch_ms, rfc3339."""

    type: str = "none"
    pattern: str | None = None  # regex only
    time_field: str | None = None  # regex, json, logfmt
    time_format: str | None = None  # None: auto-detect (epoch s/ms/us/ns, ISO 8601, syslog)

    @property
    def reads_time(self) -> bool:
        """Whether the parser reads a time in a line: syslog, or a regex, json or logfmt
        parser with a `time_field` (`none` reads none; the parser's `reads_time`)."""
        return self.type == "syslog" or (self.type != "none" and bool(self.time_field))


class Parser(Protocol):
    def parse(self, line: str) -> ParseResult: ...

    def events(self, lines: Sequence[str], source: str, now: float) -> tuple[list[LogEvent], int]:
        """LogEvents for `lines` (time: parsed, else `now`) and the number of parse errors."""

    def times(self, lines: list[str]) -> list[float | None]:
        """Each line's time as `parse` gives it (None: it has none, or does not parse), without
        building fields where the format allows (replay orders lines by these)."""


def batch(
    parser: Parser,
    source: str,
    now: float,
    lines: list[str] | None = None,
    text: str | None = None,
    backlog: bool = False,
) -> LogBatch:
    """The LogBatch of `lines`, or of the lines of `text` (joined by newlines, no final one;
    the batch carries it and splits it only if asked): nothing is parsed now, each line when
    a consumer looks at it, with `parser.parse` (its parse errors counted by the batch).
    `backlog`: read behind the end of the input (LogBatch)."""
    parse = None if isinstance(parser, NoneParser) else parser.parse
    times = parser.times if reads_time(parser) else None  # the engine places lines by it
    return LogBatch(
        source,
        now,
        parse,
        lines,
        text,
        times=times,
        spans=spans_of(parser),
        field_names=field_names(parser),
        # syslog's `times` reads runs of a stamp cheaply: every line's, not only the counted
        every_time=isinstance(parser, SyslogLineParser),
        backlog=backlog,
    )


def spans_of(parser: Parser) -> Spans | None:
    """The parser's `spans`, which reads the runs of one time in a text without splitting it
    into lines (syslog's); None for the others (their `times` reads lines)."""
    return parser.spans if isinstance(parser, SyslogLineParser) else None


def field_names(parser: Parser) -> frozenset[str] | None:
    """The names the parser's fields can have, None when any (json, logfmt): a rule's `where`
    on another field passes or fails the same on every line, and is not read
    (rules/plans/keyed.py `Fieldless`)."""
    if isinstance(parser, NoneParser):
        return frozenset()
    if isinstance(parser, SyslogLineParser):
        return SYSLOG_FIELDS
    if isinstance(parser, RegexParser):
        return frozenset(parser.rx.groupindex)
    return None


def reads_time(parser: Parser) -> bool:
    """Whether the parser can read a time in a line (syslog; regex, json or logfmt with a
    `time_field`)."""
    if isinstance(parser, _FieldParser):
        return parser.time_field is not None
    return isinstance(parser, SyslogLineParser)


def check_parser_config(cfg: ParserConfig) -> None:
    """Raise ValueError with a message for the user when `cfg` cannot make a parser."""
    if cfg.type not in PARSER_TYPES:
        raise ValueError(
            f"unknown parser type {cfg.type!r}; expected one of {', '.join(PARSER_TYPES)}"
        )
    if cfg.type == "regex":
        if not cfg.pattern:
            raise ValueError("a regex parser needs `pattern`")
        try:  # RE2 unless provably linear in re: no line can stall the collector
            rx = compile_pattern(cfg.pattern)
        except ValueError as e:
            raise ValueError(f"invalid pattern: {e}") from None
        if not rx.groupindex:
            raise ValueError(
                "pattern has no named groups (?P<name>...); use parser type none instead"
            )
        if cfg.time_field and cfg.time_field not in rx.groupindex:
            raise ValueError(f"time_field {cfg.time_field!r} is not a named group of the pattern")
    elif cfg.pattern is not None:
        raise ValueError(f"`pattern` applies to regex parsers only, not {cfg.type}")
    if cfg.type in ("syslog", "none") and (cfg.time_field or cfg.time_format):
        raise ValueError(f"a {cfg.type} parser takes no time_field/time_format")
    if cfg.time_format is not None:
        if not cfg.time_field:
            raise ValueError("time_format needs time_field")
        check_time_format(cfg.time_format)


def make_parser(cfg: ParserConfig, clock: Callable[[], float] = time.time) -> Parser:
    """Build the parser for a validated config (raises ValueError otherwise).

    `clock` gives the "now" that year-less timestamps (syslog's, a `time_format` without a
    year) are placed before.
    """
    check_parser_config(cfg)
    if cfg.type == "regex":
        assert cfg.pattern is not None
        return RegexParser(compile_pattern(cfg.pattern), cfg.time_field, cfg.time_format, clock)
    if cfg.type == "json":
        return JSONParser(cfg.time_field, cfg.time_format, clock)
    if cfg.type == "logfmt":
        return LogfmtParser(cfg.time_field, cfg.time_format, clock)
    if cfg.type == "syslog":
        return SyslogLineParser(clock)
    return NoneParser()


class _FieldParser:
    """Shared `events()` for parsers whose fields may carry the time."""

    time_field: str | None

    def __init__(
        self,
        time_field: str | None,
        time_format: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.time_field = time_field
        self._times = time_cache(time_format, clock)  # text (or None) -> time

    def parse(self, line: str) -> ParseResult:
        raise NotImplementedError

    def _when(self, fields: Fields) -> float | None:
        if self.time_field is None:
            return None
        return self._times[fields.get(self.time_field)]

    def times(self, lines: list[str]) -> list[float | None]:
        if self.time_field is None:
            return [None] * len(lines)
        parse = self.parse
        return [parse(line)[1] for line in lines]

    def events(self, lines: Sequence[str], source: str, now: float) -> tuple[list[LogEvent], int]:
        return events_via(self.parse, lines, source, now)


def events_via(
    parse: Callable[[str], ParseResult], lines: Sequence[str], source: str, now: float
) -> tuple[list[LogEvent], int]:
    """LogEvents from any parse function; unparsable lines get no fields and are counted."""
    out: list[LogEvent] = []
    append = out.append
    errors = 0
    for line in lines:
        fields, t = parse(line)
        if fields is None:
            errors += 1
            fields = EMPTY
        append(LogEvent(now if t is None else t, source, line, fields))
    return out, errors


class SyslogLineParser:
    """The syslog parser (collectors/syslog.py) as a `Parser`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._syslog = SyslogParser(clock)
        self.parse = self._syslog.parse
        self.times = self._syslog.times
        self.spans = self._syslog.spans

    def events(self, lines: Sequence[str], source: str, now: float) -> tuple[list[LogEvent], int]:
        return events_via(self.parse, lines, source, now)


class NoneParser:
    """No fields: the line is the event."""

    def parse(self, line: str) -> ParseResult:
        return EMPTY, None

    def times(self, lines: list[str]) -> list[float | None]:
        return [None] * len(lines)

    def events(self, lines: Sequence[str], source: str, now: float) -> tuple[list[LogEvent], int]:
        return [LogEvent(now, source, line, EMPTY) for line in lines], 0


class RegexParser(_FieldParser):
    """Named groups become fields (groups that did not take part are left out)."""

    def __init__(
        self,
        rx: re.Pattern[str],
        time_field: str | None,
        time_format: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(time_field, time_format, clock)
        self.rx = rx

    def parse(self, line: str) -> ParseResult:
        m = self.rx.search(line)
        if m is None:
            return None, None
        fields = m.groupdict()
        if None in fields.values():
            fields = {k: v for k, v in fields.items() if v is not None}
        return fields, self._when(fields)

    def times(self, lines: list[str]) -> list[float | None]:
        if self.time_field is None:
            return [None] * len(lines)
        group = self.rx.groupindex[self.time_field]  # None when it did not take part
        get = self._times.__getitem__
        return [None if m is None else get(m[group]) for m in map(self.rx.search, lines)]


# --- json ------------------------------------------------------------------------------------

_MAX_DEPTH = 8


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, str], depth: int) -> None:
    for k, v in obj.items():
        key = prefix + k
        if isinstance(v, str):
            out[key] = v
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        elif v is None:
            continue
        elif isinstance(v, dict) and depth < _MAX_DEPTH:
            _flatten(v, key + ".", out, depth + 1)
        elif isinstance(v, (int, float)):
            out[key] = repr(v)
        else:
            out[key] = json.dumps(v, separators=(",", ":"), ensure_ascii=False)


class JSONParser(_FieldParser):
    """One JSON object per line. Nested objects become dotted keys (`req.method`), strings stay as
    they are, numbers and booleans become their JSON text, lists their JSON; nulls are left out."""

    def parse(self, line: str) -> ParseResult:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return None, None
        if not isinstance(obj, dict):
            return None, None
        fields: dict[str, str] = {}
        try:
            _flatten(obj, "", fields, 0)
        except (ValueError, RecursionError):  # e.g. an int too long to print
            return None, None
        return fields, self._when(fields)


# --- logfmt ----------------------------------------------------------------------------------

_LOGFMT_TOKEN = re.compile(
    r'([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))(?=\s|\Z)'  # key=value, key="quoted"
    r"|([^\s=\"]+)(?=\s|\Z)"  # a bare key
    r"|(\S+)",  # anything else: a malformed token
    re.S,
)
_LOGFMT_ESCAPE = re.compile(r"\\(.)", re.S)
_LOGFMT_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _unescape(m: re.Match[str]) -> str:
    c = m.group(1)
    return _LOGFMT_ESCAPES.get(c, c)


class LogfmtParser(_FieldParser):
    """`key=value key2="quoted \\" value" flag`; a bare key is "true". A line with no key=value
    pair or with a malformed token (an unterminated quote) is a parse error."""

    def parse(self, line: str) -> ParseResult:
        fields: dict[str, str] = {}
        pairs = 0
        for m in _LOGFMT_TOKEN.finditer(line):
            key, quoted, plain, bare, junk = m.groups()
            if junk is not None:
                return None, None
            if key is not None:
                pairs += 1
                if quoted is not None:
                    fields[key] = (
                        _LOGFMT_ESCAPE.sub(_unescape, quoted) if "\\" in quoted else quoted
                    )
                else:
                    fields[key] = plain
            else:
                fields[bare] = "true"
        if not pairs:
            return None, None
        return fields, self._when(fields)
