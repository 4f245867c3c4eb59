"""Turn the timestamps found in log lines into epoch seconds.

Formats: `epoch` (seconds, fractions allowed), `epoch_ms`, `rfc3339` (ISO 8601), a strptime format
(`%d/%b/%Y:%H:%M:%S %z`), or auto-detection when no format is given. Timestamps without a zone are
local time; in the hour a DST fall-back repeats, one is read as the latest of its two passes not
more than FUTURE (5 minutes) ahead of "now" (`LocalTimes`). Syslog's year-less `Mmm dd hh:mm:ss` is
read as the latest date not more than FUTURE (5 minutes) ahead of "now" (`guess_year`): a line
stamped Dec 31 read on Jan 1 belongs to last year, one stamped Jan 1 00:00:10 read at Dec 31
23:59:30 to next year, and a year-old log read from its start is not taken for lines of the coming
hours or days (DESIGN "Event time"). A strptime format with a month and a day but no year
(dovecot's `%b %d %H:%M:%S`) gets the same year, not strptime's 1900.

Every parser keeps a cache by timestamp text: a log's lines share their second, and strptime
costs several microseconds, a dict lookup tens of nanoseconds. The cache is bounded (cleared when
full); one whose values depend on the clock (year-less syslog) is cleared as well when, at a miss,
the clock has moved an hour since it was started. No cache keeps a time of the hour a DST
fall-back repeats (`Unsure`: the text means another time an hour later).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from alerter.core.eventtime import FUTURE

TimeFn = Callable[[str], "float | None"]

NAMED_FORMATS = ("epoch", "epoch_ms", "rfc3339", "iso8601")

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def check_time_format(fmt: str) -> None:
    """Raise ValueError when `fmt` is neither a named format nor a usable strptime format."""
    if fmt in NAMED_FORMATS:
        return
    if "%" not in fmt:
        raise ValueError(
            f"time_format {fmt!r} is not a strptime format (e.g. '%d/%b/%Y:%H:%M:%S %z') "
            f"nor one of {', '.join(NAMED_FORMATS)}"
        )
    try:
        datetime.now().strftime(fmt)
    except ValueError as e:
        raise ValueError(f"time_format {fmt!r}: {e}") from None
    try:  # strftime passes a directive it does not know through (%Q); strptime refuses it
        datetime.strptime("", fmt)
    except ValueError as e:
        if "bad directive" in str(e) or "stray %" in str(e):
            hint = " (for epoch seconds, time_format: epoch)" if "%s" in fmt else ""
            raise ValueError(f"time_format {fmt!r}: {e}{hint}") from None


def _epoch(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if v == v and abs(v) < 1e12 else None  # NaN or absurd values: no time


def _epoch_ms(text: str) -> float | None:
    v = _epoch_number(text)
    return None if v is None else v / 1000.0


def _epoch_number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if v == v and abs(v) < 1e18 else None


def _auto(text: str, clock: Callable[[], float], local: LocalTimes) -> float | None:
    v = _epoch_number(text)
    if v is not None:
        # Seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
        for scale in (1.0, 1e3, 1e6, 1e9):
            if abs(v) < 1e11 * scale:
                return v / scale
        return None
    t = local.iso(text)
    if t is not None:
        return t
    return syslog_time(text, clock())


_YEAR = re.compile(r"%[-#]?[YyGCcx]")
_MONTH_AND_DAY = re.compile(r"%[-#]?[bBhm].*%[-#]?[de]|%[-#]?[de].*%[-#]?[bBhm]", re.S)


def yearless(fmt: str) -> bool:
    """A strptime format with a month and a day but no year (dovecot's `%b %d %H:%M:%S`)."""
    return _YEAR.search(fmt) is None and _MONTH_AND_DAY.search(fmt) is not None


def _yearless(fmt: str, clock: Callable[[], float]) -> TimeFn:
    """strptime for a format without a year: the year syslog's stamps get (`guess_year`),
    where strptime alone would give 1900. (Parsed within a leap year, so that Feb 29 reads.)"""
    full = "%Y " + fmt

    def parse(text: str) -> float | None:
        try:
            return guess_year(datetime.strptime("2000 " + text, full), clock())
        except (ValueError, OverflowError, OSError):
            return None

    return parse


class Unsure(float):
    """A time read from a stamp that means two times (the hour a DST fall-back repeats), as
    of when it was read: a TimeCache does not keep it, so the second pass's line of that text
    is not given the first pass's time."""

    __slots__ = ()


def guess_year(dt: datetime, now: float) -> float:
    """`dt` (a local time, its year ignored) as the latest reading not more than FUTURE ahead
    of `now`: next year's (a line stamped Jan 1 00:00:10 read at Dec 31 23:59:30, its
    writer's clock a little ahead), this year's, or last year's (a line stamped Dec 31 read
    on Jan 1 was written last year). In the hour a DST fall-back repeats, both passes are
    readings (fold 0 and 1): a line of the second pass is not an hour old. Raises ValueError
    when no reading is (Feb 29 with none in the year before)."""
    year = time.localtime(now).tm_year
    limit = now + FUTURE
    for y in (year + 1, year, year - 1):
        try:
            d = dt.replace(year=y)
        except ValueError:  # Feb 29 in a year without one
            continue
        t0 = d.timestamp()
        t1 = d.replace(fold=1).timestamp()  # == t0 but in a repeated (or skipped) hour
        if t0 <= limit or t1 <= limit:
            return _latest_pass(t0, t1, limit)
    raise ValueError(f"{dt:%b %d} was not within the year before {now}")


def _latest_pass(t0: float, t1: float, limit: float) -> float:
    """Of a local stamp's readings with fold 0 and 1 (`t0`, `t1`: equal but in the hour a DST
    change repeats or skips), the latest not after `limit`, or the earliest when none is; an
    `Unsure` one when they differ."""
    if t0 == t1:
        return t0
    return Unsure(max((t for t in (t0, t1) if t <= limit), default=min(t0, t1)))


_NEAR = 3 * 3600.0  # more than any DST shift (Troll's is 2 h)


class LocalTimes:
    """A parser's reading of its stamps' datetimes as epoch seconds, a time without a zone
    being local time. In the hour a DST fall-back repeats, such a time has two readings (fold 0
    and 1) and is read as `guess_year` reads a year-less stamp: the latest not more than FUTURE
    ahead of `clock()` (a line of the second pass, read as it is written, is not an hour old),
    an `Unsure` time. A stamp with fractions misses its time cache on every line: a time of the
    calm day last seen (its UTC offset the same from 3 h before its start to 3 h after its
    end, so no time in it has two readings) costs two comparisons more than `timestamp()`;
    the others are checked (fold 0 and 1 compared), and their day too when it is calm."""

    __slots__ = ("_calm", "_clock")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._calm = (0.0, 0.0)  # (start, end) of the calm day last seen, in epoch seconds

    def __call__(self, d: datetime) -> float:
        t0 = d.timestamp()
        lo, hi = self._calm
        if lo <= t0 < hi or d.tzinfo is not None:
            return t0
        try:
            t1 = d.replace(fold=1).timestamp()  # == t0 but in a repeated (or skipped) hour
        except (ValueError, OverflowError, OSError):  # Dec 31 9999: fold=1 looks a day ahead
            return t0
        if t0 != t1:
            return _latest_pass(t0, t1, self._clock() + FUTURE)
        try:
            lo = datetime(d.year, d.month, d.day).timestamp()
            hi = lo + 86400.0
            if time.localtime(lo - _NEAR).tm_gmtoff == time.localtime(hi + _NEAR).tm_gmtoff:
                self._calm = (lo, hi)  # (one change a day at most, in any zone there is)
        except (ValueError, OverflowError, OSError):
            pass
        return t0

    def iso(self, text: str) -> float | None:
        """ISO 8601 / RFC 3339 text; without an offset, local time."""
        try:
            return self(datetime.fromisoformat(text.strip()))
        except (ValueError, OverflowError, OSError):
            return None


def local_stamps(fmt: str | None) -> bool:
    """Whether times of `fmt` (a parser's time_format; None: auto-detected, syslog's) may be
    read from local stamps, without a zone: those a DST fall-back repeats."""
    return fmt not in ("epoch", "epoch_ms") and (fmt is None or "%z" not in fmt)


def repeated_hour(t: float, after: float) -> float:
    """`t`, read from a local stamp, as the reading of its stamp that follows `after` (the
    previous line's time in a log read in order). In the hour a DST fall-back repeats a stamp
    has two readings an hour apart: the earlier one, unless it is more than FUTURE before
    `after` (the log has gone on into the second pass). Any other time is `t`."""
    try:
        d = datetime.fromtimestamp(t)
        shift = d.replace(fold=1 - d.fold).timestamp() - d.timestamp()
    except (OverflowError, OSError, ValueError):
        return t
    if abs(shift) < 1.0:  # one reading only
        return t
    early, late = (t, t + shift) if shift > 0 else (t + shift, t)
    return early if early >= after - FUTURE else late


def _strptime(fmt: str, clock: Callable[[], float] = time.time) -> TimeFn:
    if yearless(fmt):
        return _yearless(fmt, clock)
    local = LocalTimes(clock)

    def parse(text: str) -> float | None:
        try:
            return local(datetime.strptime(text, fmt))
        except (ValueError, OverflowError, OSError):
            return None

    fast = _fast_format(fmt)
    if fast is None:
        return parse
    match = fast.fullmatch

    def quick(text: str) -> float | None:
        """strptime's answer, from a strict regex and datetime() when the text is plain
        (ASCII digits, exact literals, an English month); anything else goes to strptime."""
        m = match(text)
        if m is None:
            return parse(text)
        year, month, name, day, hour, minute, second, frac, zone = m.group(*_FAST_GROUPS)
        try:
            tz = None
            if zone is not None:
                off = 0 if zone == "Z" else int(zone[1:3]) * 3600 + int(zone[-2:]) * 60
                tz = timezone(timedelta(seconds=-off if zone[0] == "-" else off))
            d = datetime(
                int(year),
                _MONTHS[name] if month is None else int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int(frac.ljust(6, "0")) if frac else 0,
                tz,
            )
            return local(d)
        except (ValueError, OverflowError, OSError):  # e.g. Feb 30, second 60: strptime decides
            return parse(text)

    return quick


# strptime directives with a strict fast path: each a stricter pattern than strptime's own, so
# a text it matches is one strptime accepts with the same fields, or rejects in datetime().
_FAST_DIRECTIVES = {
    "Y": r"(?P<Y>[0-9]{4})",
    "m": r"(?P<m>[0-9]{2})",
    "b": r"(?P<b>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
    "d": r"(?P<d>[0-9]{2})",
    "H": r"(?P<H>[0-9]{2})",
    "M": r"(?P<M>[0-9]{2})",
    "S": r"(?P<S>[0-9]{2})",
    "f": r"(?P<f>[0-9]{1,6})",
    "z": r"(?P<z>Z|[+-][0-9]{2}:?[0-5][0-9])",
}
_FAST_GROUPS = ("Y", "m", "b", "d", "H", "M", "S", "f", "z")


def _fast_format(fmt: str) -> re.Pattern[str] | None:
    """The strict regex for a format of the directives above (each at most once, with a
    year, a month and a day) and literal text; None for any other format."""
    if [datetime(2000, m, 1).strftime("%b") for m in range(1, 13)] != list(_MONTHS):
        return None  # a locale with other month names: strptime reads those
    parts: list[str] = []
    seen: set[str] = set()
    last = ""  # the directive just before, while no literal followed it
    i = 0
    while i < len(fmt):
        if fmt[i] != "%" or fmt[i + 1 : i + 2] == "%":
            c = fmt[i]
            # strptime's own patterns may split digits (or a zone's `:ss`) differently when
            # nothing but digits separates two fields: those formats go to strptime
            if last and (c.isdigit() or (last == "z" and c in ":.")):
                return None
            parts.append(re.escape(c))
            i += 1 if c != "%" else 2
            last = ""
            continue
        d = fmt[i + 1 : i + 2]
        if d not in _FAST_DIRECTIVES or d in seen or (last and last != "b" and d not in "bz"):
            return None
        seen.add(d)
        parts.append(_FAST_DIRECTIVES[d])
        last = d
        i += 2
    if not {"Y", "d"} <= seen or len(seen & {"m", "b"}) != 1:
        return None
    parts.extend(f"(?P<{d}>){{0}}" for d in _FAST_GROUPS if d not in seen)  # always None
    return re.compile("".join(parts), re.ASCII)


def syslog_time(text: str, now: float) -> float | None:
    """`Mmm dd hh:mm:ss` (RFC 3164, no year, local time) to epoch seconds near `now`."""
    s = text.strip()
    if len(s) < 15 or s[3] != " " or s[6] != " ":
        return None
    month = _MONTHS.get(s[:3])
    try:
        day = int(s[4:6])
        hh, mm, ss = int(s[7:9]), int(s[10:12]), int(s[13:15])
    except ValueError:
        return None
    if month is None or s[9] != ":" or s[12] != ":":
        return None
    try:
        return guess_year(datetime(2000, month, day, hh, mm, ss), now)
    except (ValueError, OverflowError, OSError):
        return None


CACHE_SIZE = 4096  # distinct timestamp texts kept: over an hour of a log with a line a second
_CLOCK_SLACK = 3600.0


class TimeCache(dict[Any, "float | None"]):
    """timestamp text -> epoch seconds (or None), computing misses with `fn`. `cache[None]` is
    None, so `map(cache.__getitem__, texts)` takes texts of lines that had none. Indexing is the
    fast path: a hit is one C-level dict lookup, no Python frame."""

    __slots__ = ("_clock", "_fn", "_since")

    def __init__(self, fn: TimeFn, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self._fn = fn
        self._clock = clock  # given when fn's values depend on "now"
        self._since = clock() if clock is not None else 0.0
        self[None] = None

    def __missing__(self, text: str | None) -> float | None:
        if text is None:  # only between a clear and its re-seeding, in another thread
            return None
        if len(self) >= CACHE_SIZE:
            self._reset()
        elif self._clock is not None:
            now = self._clock()
            if not 0.0 <= now - self._since < _CLOCK_SLACK:
                self._reset(now)
        value = self._fn(text)
        if type(value) is Unsure:  # (a time of the repeated hour: read it again next time)
            return float(value)
        self[text] = value
        return value

    def _reset(self, now: float | None = None) -> None:
        self.clear()
        self[None] = None
        if self._clock is not None:
            self._since = self._clock() if now is None else now


def time_parser(fmt: str | None, clock: Callable[[], float] = time.time) -> TimeFn:
    """A cached function from timestamp text to epoch seconds (None when it does not parse)."""
    return time_cache(fmt, clock).__getitem__


def time_cache(fmt: str | None, clock: Callable[[], float] = time.time) -> TimeCache:
    """The cache behind `time_parser(fmt)`: index it with a text (or None) for its time.
    `clock`: the "now" a year-less stamp is placed before (replay: the file's last write)."""
    if fmt is None:  # (its syslog fallback reads the clock)
        local = LocalTimes(clock)
        return TimeCache(lambda text: _auto(text, clock, local), clock)
    if fmt == "epoch":
        return TimeCache(_epoch)
    if fmt == "epoch_ms":
        return TimeCache(_epoch_ms)
    if fmt in ("rfc3339", "iso8601"):
        return TimeCache(LocalTimes(clock).iso)
    return TimeCache(_strptime(fmt, clock), clock if yearless(fmt) else None)
