"""Alertmanager's `time_intervals`: named recurring periods that mute a route, or outside of
which a route stays quiet (`mute_time_intervals` / `active_time_intervals` on a route).

Syntax and semantics follow Alertmanager 0.25 (`timeinterval/timeinterval.go`): a named interval
holds a list of time intervals and contains an instant when any of them does; a time interval
contains it when every field it sets does (`times` [start, end) in minutes of the day,
`weekdays`, `days_of_month` with negative days counted from the month's end, `months`, `years`,
all ranges inclusive), read in its `location` (an IANA zone, `Local`, default UTC).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerter.core.yamlsource import MapReader, Node

WEEKDAYS = {
    d: i
    for i, d in enumerate(
        ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    )
}
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """One entry of a named interval's list; an empty tuple means the field is not set."""

    times: tuple[Range, ...] = ()  # minutes of the day, end exclusive
    weekdays: tuple[Range, ...] = ()  # 0 = Sunday
    days_of_month: tuple[Range, ...] = ()  # 1..31 or -31..-1
    months: tuple[Range, ...] = ()
    years: tuple[Range, ...] = ()
    location: tzinfo = UTC

    def contains(self, ts: float) -> bool:
        t = datetime.fromtimestamp(ts, self.location)
        minute = t.hour * 60 + t.minute
        if self.times and not any(a <= minute < b for a, b in self.times):
            return False
        if self.days_of_month and not any(
            _day_in(t.year, t.month, t.day, r) for r in self.days_of_month
        ):
            return False
        if self.months and not any(a <= t.month <= b for a, b in self.months):
            return False
        weekday = (t.weekday() + 1) % 7  # Python: Monday = 0; Alertmanager: Sunday = 0
        if self.weekdays and not any(a <= weekday <= b for a, b in self.weekdays):
            return False
        return not self.years or any(a <= t.year <= b for a, b in self.years)


def _day_in(year: int, month: int, day: int, r: Range) -> bool:
    n = calendar.monthrange(year, month)[1]
    begin = n + r[0] + 1 if r[0] < 0 else r[0]
    end = n + r[1] + 1 if r[1] < 0 else r[1]
    if begin > n:  # e.g. 31 in a 30-day month: the range is not in this month
        return False
    return max(begin, -n) <= day <= min(end, n)


@dataclass(frozen=True, slots=True)
class TimeIntervals:
    """The config's named intervals; routes name them."""

    named: Mapping[str, tuple[TimeInterval, ...]]

    def active(self, name: str, ts: float) -> bool:
        return any(ti.contains(ts) for ti in self.named.get(name, ()))

    def route_muted(self, mute: Iterable[str], active: Sequence[str], ts: float) -> bool:
        """Alertmanager's TimeMuteStage then TimeActiveStage: muted while any mute interval
        holds, or, when the route lists active intervals, while none of them holds."""
        if any(self.active(n, ts) for n in mute):
            return True
        return bool(active) and not any(self.active(n, ts) for n in active)


NONE = TimeIntervals({})


def parse_time_intervals(readers: Iterable[MapReader]) -> TimeIntervals:
    """`time_intervals:` (and the older top-level `mute_time_intervals:`) entries:
    `{name, time_intervals: [...]}`. Problems are added to each reader's problems."""
    named: dict[str, tuple[TimeInterval, ...]] = {}
    for r in readers:
        name = r.str("name", "")
        if not name:
            r.problems.add(r.node, f"{r.what}: name is required")
        elif name in named:
            r.problems.add(r.raw("name") or r.node, f"name: {name!r} is defined twice")
        entries = tuple(_interval(ir) for ir in r.items("time_intervals"))
        r.done()
        if name:
            named[name] = tuple(e for e in entries if e is not None)
    return TimeIntervals(named)


def _interval(r: MapReader) -> TimeInterval | None:
    ok = True
    times: list[Range] = []
    for tr in r.items("times"):
        start, end = tr.str("start_time", ""), tr.str("end_time", "")
        tr.done()
        if not start or not end:
            r.problems.add(tr.node, "times: both start_time and end_time must be given")
            ok = False
            continue
        a, b = _minutes(tr, "start_time", start), _minutes(tr, "end_time", end)
        if a is None or b is None:
            ok = False
        elif a >= b:
            r.problems.add(tr.node, f"times: start_time {start} must be before end_time {end}")
            ok = False
        else:
            times.append((a, b))
    weekdays = _ranges(r, "weekdays", _weekday, _check_weekdays)
    days = _ranges(r, "days_of_month", _int, _check_days)
    months = _ranges(r, "months", _month, _check_increasing("month"))
    years = _ranges(r, "years", _int, _check_increasing("year"))
    location: tzinfo = UTC
    loc = r.str("location", "")
    if loc:
        try:
            location = ZoneInfo("localtime") if loc == "Local" else ZoneInfo(loc)
        except (ZoneInfoNotFoundError, ValueError):
            r.problems.add(
                r.raw("location") or r.node,
                f"location: unknown time zone {loc!r} (an IANA name such as 'Europe/Berlin', "
                "or 'Local', or 'UTC')",
            )
            ok = False
    r.done()
    if not ok or None in (weekdays, days, months, years):
        return None
    assert weekdays is not None and days is not None and months is not None and years is not None
    return TimeInterval(tuple(times), weekdays, days, months, years, location)


def _minutes(r: MapReader, key: str, text: str) -> int | None:
    if not _TIME.fullmatch(text):
        r.problems.add(r.raw(key) or r.node, f"{key}: {text!r} is not a time HH:MM (00:00-24:00)")
        return None
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _weekday(text: str) -> int | None:
    return WEEKDAYS.get(text)


def _month(text: str) -> int | None:
    return MONTHS[text] if text in MONTHS else _int(text)


def _check_weekdays(a: int, b: int) -> str | None:
    if a > b:
        return "start day cannot be after end day"
    return None


def _check_days(a: int, b: int) -> str | None:
    for d in (a, b):
        if d == 0 or not -31 <= d <= 31:
            return f"{d} is not a valid day of the month (1..31, or -31..-1 from the end)"
    if a < 0 < b:
        return "end day must be negative if start day is negative"
    if (28 + a if a < 0 else a) > (28 + b if b < 0 else b):
        return f"end day {b} is always before start day {a}"
    return None


def _check_increasing(what: str) -> Callable[[int, int], str | None]:
    def check(a: int, b: int) -> str | None:
        if what == "month" and not (1 <= a <= 12 and 1 <= b <= 12):
            return "months are 1..12 or january..december"
        return f"end {what} {b} is before start {what} {a}" if a > b else None

    return check


def _ranges(
    r: MapReader,
    key: str,
    member: Callable[[str], int | None],
    check: Callable[[int, int], str | None],
) -> tuple[Range, ...] | None:
    """`['monday:friday', 'sunday']`-style lists; None when any item is wrong."""
    out: list[Range] = []
    ok = True
    n = r.raw(key)
    if n is None or n.value is None:
        return ()
    items: list[Node] = n.value if isinstance(n.value, list) else [n]
    for item in items:
        text = r.as_str(item, key)
        if text is None:
            ok = False
            continue
        parts = text.lower().split(":")
        values = [member(p.strip()) for p in parts] if len(parts) <= 2 else [None]
        a, b = values[0], values[-1]
        if a is None or b is None:
            r.problems.add(item, f"{key}: cannot read {text!r} (a value or a range 'a:b')")
            ok = False
            continue
        if key == "weekdays" and not (0 <= a <= 6 and 0 <= b <= 6):
            r.problems.add(item, f"{key}: {text!r} is not a day of the week")
            ok = False
            continue
        problem = check(a, b)
        if problem:
            r.problems.add(item, f"{key}: {problem}")
            ok = False
            continue
        out.append((a, b))
    return tuple(out) if ok else None
