"""Turn the timestamps found in log lines into epoch seconds.

Formats: `epoch` (seconds, fractions allowed), `epoch_ms`, `rfc3339` (ISO 8601), a strptime
format (`%d/%b/%Y:%H:%M:%S %z`), or auto-detection when no format is given. Timestamps without a
zone are local time. Syslog's year-less `Mmm dd hh:mm:ss` gets the year that puts it closest
before "now" (a line stamped Dec 31 read on Jan 1 belongs to last year).

Every parser keeps a cache by timestamp text: a log's lines share their second, and strptime
costs several microseconds, a dict lookup tens of nanoseconds. The cache is bounded (cleared when
full); one whose values depend on the clock (year-less syslog) is cleared as well when, at a miss,
the clock has moved an hour since it was started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

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


def iso_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _auto(text: str) -> float | None:
    v = _epoch_number(text)
    if v is not None:
        # Seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
        for scale in (1.0, 1e3, 1e6, 1e9):
            if abs(v) < 1e11 * scale:
                return v / scale
        return None
    t = iso_time(text)
    if t is not None:
        return t
    return syslog_time(text, time.time())


def _strptime(fmt: str) -> TimeFn:
    def parse(text: str) -> float | None:
        try:
            return datetime.strptime(text, fmt).timestamp()
        except (ValueError, OverflowError, OSError):
            return None

    return parse


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
    year = time.localtime(now).tm_year
    try:
        t = datetime(year, month, day, hh, mm, ss).timestamp()
        if t > now + 7 * 86400:  # far in the future: it was written last year
            t = datetime(year - 1, month, day, hh, mm, ss).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return t


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
        value = self[text] = self._fn(text)
        return value

    def _reset(self, now: float | None = None) -> None:
        self.clear()
        self[None] = None
        if self._clock is not None:
            self._since = self._clock() if now is None else now


def time_parser(fmt: str | None) -> TimeFn:
    """A cached function from timestamp text to epoch seconds (None when it does not parse)."""
    return time_cache(fmt).__getitem__


def time_cache(fmt: str | None) -> TimeCache:
    """The cache behind `time_parser(fmt)`: index it with a text (or None) for its time."""
    if fmt is None:
        return TimeCache(_auto, time.time)  # its syslog fallback reads the clock
    if fmt == "epoch":
        return TimeCache(_epoch)
    if fmt == "epoch_ms":
        return TimeCache(_epoch_ms)
    if fmt in ("rfc3339", "iso8601"):
        return TimeCache(iso_time)
    return TimeCache(_strptime(fmt))
