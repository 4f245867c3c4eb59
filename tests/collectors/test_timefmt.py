"""strptime formats: the strict fast path gives exactly what datetime.strptime gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerter.collectors.timefmt import _fast_format, check_time_format, time_parser

FORMATS = [
    "%d/%b/%Y:%H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S",
    "%d%b%Y %H:%M",
    "[%Y/%m/%d %S]",
]


def strptime(text: str, fmt: str) -> float | None:
    try:
        return datetime.strptime(text, fmt).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def test_common_formats_take_the_fast_path_and_ambiguous_ones_do_not() -> None:
    assert all(_fast_format(f) is not None for f in FORMATS)
    for fmt in ("%Y%m%d", "%z%H", "%H:%M %z:%S", "%y-%m-%d", "%Y-%m", "%Y-%m-%d %I %p"):
        assert _fast_format(fmt) is None


def two(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda v: f"{v:02d}")


odd = st.sampled_from(["0", "7", "123", "٣٣", "00", "60", "99", "2026x", "Foo", "UTC", ""])
valid = {  # values strptime may accept (the date may still not exist: 31 Feb)
    "Y": st.sampled_from(["2026", "1970", "2038", "0001", "9999"]),
    "m": two(1, 12),
    "b": st.sampled_from(["Nov", "Jan", "Feb", "Dec", "nov", "NOV"]),
    "d": two(1, 31),
    "H": two(0, 23),
    "M": two(0, 59),
    "S": two(0, 61),
    "f": st.sampled_from(["5", "50", "123456", "000001", "1234567"]),
    "z": st.sampled_from(
        [
            "+0000",
            "-0130",
            "+0530",
            "+01:00",
            "-09:30",
            "Z",
            "z",
            "+2400",
            "+0160",
            "+010030",
            "+01:00:30",
            "-00:00",
        ]
    ),
}


@st.composite
def text_for(draw: st.DrawFn, fmt: str) -> str:
    """Half the texts have only plausible fields and exact literals, the rest odd parts too."""
    clean = draw(st.booleans())
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            out.append(draw(valid[fmt[i + 1]] if clean else valid[fmt[i + 1]] | odd))
            i += 2
        else:
            out.append(fmt[i] if clean else draw(st.sampled_from([fmt[i]] * 3 + ["  ", "x"])))
            i += 1
    return "".join(out)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fast_path_agrees_with_strptime(
    fmt: str, data: st.DataObject, local_tz: Callable[[str], None]
) -> None:
    # in UTC: a time of a repeated hour is read as the pass the clock is in, not as strptime's
    local_tz("UTC")
    text = data.draw(text_for(fmt))
    assert time_parser(fmt)(text) == strptime(text, fmt)


def test_fast_path_examples() -> None:
    parse = time_parser("%d/%b/%Y:%H:%M:%S %z")
    assert parse("28/Nov/2026:07:00:00 -0130") == 1_795_854_600.0
    assert parse("30/Feb/2026:07:00:00 +0000") is None
    assert parse("28/nov/2026:07:00:00 +0000") == 1_795_849_200.0  # strptime ignores case


def test_a_format_without_a_year_gets_the_year_syslog_stamps_get() -> None:
    # dovecot's log_path lines ("Dec 05 21:50:40 auth: Info: ..."): strptime alone says 1900,
    # which replay placed there and the daemon counted as late
    from alerter.collectors.timefmt import yearless

    now = datetime(2026, 6, 15, 12, 0, 0)  # local time, as the stamps are
    parse = time_parser("%b %d %H:%M:%S", clock=now.timestamp)
    recent = now - timedelta(minutes=10)
    assert parse(recent.strftime("%b %d %H:%M:%S")) == recent.timestamp()
    # more than 5 minutes ahead of now: last year's
    ahead = now + timedelta(hours=6)
    assert parse(ahead.strftime("%b %d %H:%M:%S")) == ahead.replace(year=ahead.year - 1).timestamp()
    assert yearless("%b %d %H:%M:%S") and yearless("%d.%m. %H:%M")
    assert not yearless("%Y-%m-%d") and not yearless("%H:%M:%S") and not yearless("%d/%b/%y")
    assert time_parser("%H:%M:%S")("10:00:00") == strptime("10:00:00", "%H:%M:%S")  # as it was


@pytest.mark.parametrize(
    ("fmt", "said"),
    [
        ("%Q", "'Q' is a bad directive in format '%Q'"),
        ("%H %", "stray % in format '%H %'"),
        ("%s", "'s' is a bad directive in format '%s' (for epoch seconds, time_format: epoch)"),
    ],
)
def test_a_directive_strptime_does_not_know_is_refused(fmt: str, said: str) -> None:
    # strftime passes %Q through as it is: every line would fail to parse, counted as errors
    with pytest.raises(ValueError) as e:
        check_time_format(fmt)
    assert str(e.value) == f"time_format {fmt!r}: {said}"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> float:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC).timestamp()


def test_a_stamp_of_the_repeated_hour_is_read_as_the_pass_now_in(
    local_tz: Callable[[str], None],
) -> None:
    # DST fall-back in New York, 2025-11-02: 01:00-01:59 local happens twice (EDT, then EST)
    from alerter.collectors.timefmt import syslog_time

    local_tz("America/New_York")
    second_pass = utc(2025, 11, 2, 6, 5, 30)  # 01:05:30 EST
    assert syslog_time("Nov  2 01:05:00", second_pass) == second_pass - 30  # was - 3630
    first_pass = utc(2025, 11, 2, 5, 5, 30)  # 01:05:30 EDT
    assert syslog_time("Nov  2 01:05:00", first_pass) == first_pass - 30
    # a yearless strptime format takes the same rule
    parse = time_parser("%b %d %H:%M:%S", clock=lambda: second_pass)
    assert parse("Nov 02 01:05:00") == second_pass - 30


def test_a_stamp_just_after_new_year_read_just_before_it_is_next_year_s(
    local_tz: Callable[[str], None],
) -> None:
    # the writer's clock 40 s ahead of the daemon's at New Year: within the 5 minutes allowed
    from alerter.collectors.timefmt import syslog_time

    local_tz("UTC")
    now = utc(2025, 12, 31, 23, 59, 30)
    assert syslog_time("Jan  1 00:00:10", now) == now + 40  # was a year ago
    assert syslog_time("Dec 31 23:59:00", now) == now - 30
    assert syslog_time("Jan  1 00:10:00", now) == utc(2025, 1, 1, 0, 10)  # 10 min ahead: old
    # Feb 29 read in a year without one: the last Feb 29 when it is within a year
    assert syslog_time("Feb 29 10:00:00", utc(2025, 1, 10)) == utc(2024, 2, 29, 10)
    assert syslog_time("Feb 29 10:00:00", utc(2026, 1, 10)) is None


def test_the_cache_does_not_keep_a_repeated_hour_s_first_pass_for_the_second(
    local_tz: Callable[[str], None],
) -> None:
    # a busy log's every second of 01:00-01:59 is read in both passes, within the hour the
    # cache keeps its values: the second pass must not get the first pass's times
    from alerter.collectors.syslog import SyslogParser

    local_tz("America/New_York")
    now = [utc(2025, 11, 2, 5, 5, 30)]  # 01:05:30 EDT
    parser = SyslogParser(clock=lambda: now[0])
    yearless = time_parser("%b %d %H:%M:%S", clock=lambda: now[0])
    line = "Nov  2 01:05:00 h app: x"
    assert parser.parse(line)[1] == parser.times([line])[0] == now[0] - 30
    assert yearless("Nov 02 01:05:00") == now[0] - 30
    now[0] += 3600  # 01:05:30 EST
    assert parser.parse(line)[1] == parser.times([line])[0] == now[0] - 30
    assert parser.spans(line) == [(1, len(line), now[0] - 30)]
    assert yearless("Nov 02 01:05:00") == now[0] - 30


# the hour a DST fall-back repeats, with a second of it: the 30-min shift of Lord Howe too
FALL_BACKS = [
    ("America/New_York", datetime(2025, 11, 2, 1, 5), 3600),
    ("Europe/Berlin", datetime(2025, 10, 26, 2, 30), 3600),
    ("Australia/Lord_Howe", datetime(2025, 4, 6, 1, 45), 1800),
]
# every format of a stamp with its year and no zone: strptime's fast path and strptime itself,
# RFC 3339 without an offset, auto-detection; (format, how the stamp is written)
ZONELESS = [
    ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"),
    ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %I:%M:%S %p"),
    ("rfc3339", "%Y-%m-%dT%H:%M:%S"),
    (None, "%Y-%m-%d %H:%M:%S"),
]


@pytest.mark.parametrize(("zone", "stamp", "shift"), FALL_BACKS)
@pytest.mark.parametrize(("fmt", "written"), ZONELESS)
def test_a_stamp_with_its_year_in_the_repeated_hour_is_read_as_the_pass_now_in(
    local_tz: Callable[[str], None],
    zone: str,
    stamp: datetime,
    shift: int,
    fmt: str | None,
    written: str,
) -> None:
    # read 5 s after it was written, in either pass; one parser reads both passes, as a live
    # collector does (its cache must not keep the first pass's time for the second)
    local_tz(zone)
    first = stamp.timestamp()
    second = stamp.replace(fold=1).timestamp()
    assert second - first == shift
    now = [first + 5]
    parse = time_parser(fmt, clock=lambda: now[0])
    day_before = stamp - timedelta(days=1)  # a day without a DST change read first
    assert parse(day_before.strftime(written)) == day_before.timestamp()
    text = stamp.strftime(written)
    assert parse(text) == first
    now[0] = second + 5
    assert parse(text) == second  # was the first pass: an hour (30 min) old
    # a time out of the repeated hour has one reading, whatever the clock
    later = (stamp + timedelta(hours=2)).strftime(written)
    assert parse(later) == (stamp + timedelta(hours=2)).timestamp()


def test_syslog_s_rfc3339_stamps_without_an_offset_take_the_pass_now_in(
    local_tz: Callable[[str], None],
) -> None:
    from alerter.collectors.syslog import SyslogParser

    local_tz("America/New_York")
    now = [utc(2025, 11, 2, 5, 5, 30)]  # 01:05:30 EDT
    parser = SyslogParser(clock=lambda: now[0])
    line = "2025-11-02T01:05:00 h app: x"
    assert parser.parse(line)[1] == parser.times([line])[0] == now[0] - 30
    now[0] += 3600  # 01:05:30 EST
    assert parser.parse(line)[1] == parser.times([line])[0] == now[0] - 30
    assert parser.parse("<13>1 2025-11-02T01:05:00 h app - - - x")[1] == now[0] - 30
