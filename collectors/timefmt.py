"""Turn the timestamps found in log lines into epoch seconds.

Formats: `epoch` (seconds, fractions allowed), `epoch_ms`, `rfc3339` (ISO 8601), a strptime
format (`%d/%b/%Y:%H:%M:%S %z`), or auto-detection when no format is given. Timestamps without a
zone are local time. Syslog's year-less `Mmm dd hh:mm:ss` gets the year that puts it closest
before "now" (a line stamped Dec 31 read on Jan 1 belongs to last year).

Every parser keeps a one-entry cache: consecutive lines usually share their timestamp string,
and strptime costs several microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

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


def _iso(text: str) -> float | None:
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
    t = _iso(text)
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


def time_parser(fmt: str | None) -> TimeFn:
    """A cached function from timestamp text to epoch seconds (None when it does not parse)."""
    if fmt is None:
        fn: TimeFn = _auto
    elif fmt == "epoch":
        fn = _epoch
    elif fmt == "epoch_ms":
        fn = _epoch_ms
    elif fmt in ("rfc3339", "iso8601"):
        fn = _iso
    else:
        fn = _strptime(fmt)
    # One (text, value) pair replaced as a whole, so threads sharing a parser stay consistent.
    last: list[tuple[str | None, float | None]] = [(None, None)]

    def cached(text: str) -> float | None:
        seen, value = last[0]
        if text == seen:
            return value
        value = fn(text)
        last[0] = (text, value)
        return value

    return cached
