"""Parsers: fields and times from each format, parse errors, and fuzzing with arbitrary bytes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.collectors.parsers import (
    ParserConfig,
    ParseResult,
    batch,
    check_parser_config,
    make_parser,
    reads_time,
)
from alerter.collectors.timefmt import syslog_time, time_parser
from alerter.core.events import EMPTY

NGINX = (
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)[^"]*" '
    r"(?P<status>\d{3}) (?P<bytes>\d+)"
)
NGINX_LINE = '10.0.0.1 - - [28/Nov/2026:07:00:00 +0000] "GET /a HTTP/1.1" 404 12 "-" "curl"'


def test_regex_named_groups_become_fields_and_time_is_parsed() -> None:
    p = make_parser(ParserConfig("regex", NGINX, "time", "%d/%b/%Y:%H:%M:%S %z"))
    fields, t = p.parse(NGINX_LINE)
    assert fields is not None
    assert fields["ip"] == "10.0.0.1" and fields["status"] == "404" and fields["path"] == "/a"
    assert t == datetime(2026, 11, 28, 7, 0, tzinfo=UTC).timestamp()


def test_regex_optional_group_that_did_not_match_is_left_out() -> None:
    fields, _ = make_parser(ParserConfig("regex", r"(?P<a>x)?(?P<b>y)")).parse("y")
    assert fields == {"b": "y"}


def test_regex_non_matching_line_is_a_parse_error_but_still_an_event() -> None:
    p = make_parser(ParserConfig("regex", r"^(?P<a>\d+)$"))
    assert p.parse("abc") == (None, None)
    events, errors = p.events(["12", "abc"], "src", 5.0)
    assert errors == 1
    assert [(e.line, dict(e.fields), e.time, e.source) for e in events] == [
        ("12", {"a": "12"}, 5.0, "src"),
        ("abc", {}, 5.0, "src"),
    ]


def test_regex_events_with_time_field_take_the_parsed_time() -> None:
    p = make_parser(ParserConfig("regex", r"^(?P<t>\d+) (?P<msg>.*)", "t", "epoch_ms"))
    events, errors = p.events(["1700000000500 hi", "junk"], "s", 9.0)
    assert errors == 1
    assert events[0].time == 1_700_000_000.5 and events[1].time == 9.0


def test_json_flattens_nested_objects_and_renders_scalars() -> None:
    p = make_parser(ParserConfig("json", time_field="ts"))
    fields, t = p.parse(
        '{"ts": 1700000000, "req": {"method": "GET", "ok": true}, "n": null, "l": [1]}'
    )
    assert fields == {"ts": "1700000000", "req.method": "GET", "req.ok": "true", "l": "[1]"}
    assert t == 1_700_000_000.0


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '"s"', "{", "1e999999"])
def test_json_that_is_not_an_object_is_a_parse_error(line: str) -> None:
    assert make_parser(ParserConfig("json")).parse(line) == (None, None)


def test_json_deep_nesting_does_not_escape() -> None:
    line = '{"a":' * 5000 + "1" + "}" * 5000
    fields, _ = make_parser(ParserConfig("json")).parse(line)
    assert fields is None or isinstance(fields, dict)


def test_logfmt_quoted_values_escapes_and_bare_keys() -> None:
    p = make_parser(ParserConfig("logfmt", time_field="ts", time_format="rfc3339"))
    fields, t = p.parse(r'ts=2026-11-28T07:00:00Z level=warn msg="disk \"sda\" full" retry')
    assert fields == {
        "ts": "2026-11-28T07:00:00Z",
        "level": "warn",
        "msg": 'disk "sda" full',
        "retry": "true",
    }
    assert t == datetime(2026, 11, 28, 7, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("line", ["just words", 'a="unterminated', ""])
def test_logfmt_without_pairs_or_malformed_is_a_parse_error(line: str) -> None:
    assert make_parser(ParserConfig("logfmt")).parse(line) == (None, None)


def test_syslog_rfc3164_file_line() -> None:
    now = datetime(2026, 11, 28, 12).timestamp()
    p = make_parser(ParserConfig("syslog"), clock=lambda: now)
    fields, t = p.parse("Nov 28 07:00:01 web1 sshd[123]: Failed password for root from 1.2.3.4")
    assert fields == {
        "host": "web1",
        "program": "sshd",
        "pid": "123",
        "message": "Failed password for root from 1.2.3.4",
    }
    assert t == datetime(2026, 11, 28, 7, 0, 1).timestamp()


def test_syslog_rfc3164_with_pri_and_no_pid() -> None:
    fields, _ = make_parser(ParserConfig("syslog")).parse("<13>Nov  8 07:00:01 h kernel: oops")
    assert fields is not None
    assert (fields["facility"], fields["severity"], fields["program"], fields["message"]) == (
        "user",
        "notice",
        "kernel",
        "oops",
    )


def test_syslog_rfc3339_timestamp_as_rsyslog_writes_it() -> None:
    fields, t = make_parser(ParserConfig("syslog")).parse(
        "2026-11-28T07:00:00.5+00:00 h CRON[5]: (root) CMD (true)"
    )
    assert fields is not None and fields["program"] == "CRON"
    assert t == datetime(2026, 11, 28, 7, 0, 0, 500000, tzinfo=UTC).timestamp()


def test_syslog_rfc5424_with_structured_data_and_bom() -> None:
    line = (
        '<165>1 2003-10-11T22:14:15.003Z host.example.com evntslog - ID47 [ex@32473 iut="3" '
        'x="a\\]b"] \ufeffAn application event'
    )
    fields, t = make_parser(ParserConfig("syslog")).parse(line)
    assert fields is not None
    assert fields["program"] == "evntslog" and "pid" not in fields and fields["msgid"] == "ID47"
    assert fields["structured_data"] == '[ex@32473 iut="3" x="a\\]b"]'
    assert fields["message"] == "An application event"
    assert (fields["facility"], fields["severity"]) == ("local4", "notice")
    assert t == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC).timestamp()


def test_syslog_year_less_timestamp_from_december_read_in_january_is_last_year() -> None:
    now = datetime(2027, 1, 1, 0, 5).timestamp()
    assert syslog_time("Dec 31 23:59:00", now) == datetime(2026, 12, 31, 23, 59).timestamp()
    assert syslog_time("Jan  1 00:01:00", now) == datetime(2027, 1, 1, 0, 1).timestamp()


def test_syslog_garbage_is_a_parse_error() -> None:
    assert make_parser(ParserConfig("syslog")).parse("hello") == (None, None)


def test_none_parser_has_no_fields_and_no_errors() -> None:
    events, errors = make_parser(ParserConfig("none")).events(["a", ""], "s", 1.0)
    assert errors == 0 and [e.fields for e in events] == [EMPTY, EMPTY]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        (None, "1700000000", 1_700_000_000.0),
        (None, "1700000000123", 1_700_000_000.123),
        (
            None,
            "2026-11-28T07:00:00+01:00",
            datetime(2026, 11, 28, 6, tzinfo=UTC).timestamp(),
        ),
        ("epoch", "1700000000.25", 1_700_000_000.25),
        ("epoch", "nan", None),
        ("epoch_ms", "1700000000250", 1_700_000_000.25),
        (
            "%Y-%m-%d %H:%M:%S%z",
            "2026-11-28 07:00:00+0000",
            datetime(2026, 11, 28, 7, tzinfo=UTC).timestamp(),
        ),
        ("%Y-%m-%d", "not a date", None),
    ],
)
def test_time_formats(fmt: str | None, text: str, expected: float | None) -> None:
    assert (
        time_parser(fmt)(text) == pytest.approx(expected)
        if expected
        else time_parser(fmt)(text) is None
    )


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (ParserConfig("csv"), "unknown parser type"),
        (ParserConfig("regex"), "needs `pattern`"),
        (ParserConfig("regex", "(unclosed"), "invalid pattern"),
        (ParserConfig("regex", "no groups"), "no named groups"),
        (ParserConfig("regex", "(?P<a>x)", "t"), "not a named group"),
        (ParserConfig("json", time_format="%Y"), "needs time_field"),
        (ParserConfig("json", time_field="t", time_format="yyyy"), "not a strptime format"),
        (ParserConfig("syslog", time_field="t"), "takes no time_field"),
        (ParserConfig("json", pattern="x"), "regex parsers only"),
    ],
)
def test_invalid_configs_are_explained(cfg: ParserConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_parser_config(cfg)


ALL_CONFIGS = [
    ParserConfig("regex", NGINX, "time", "%d/%b/%Y:%H:%M:%S %z"),
    ParserConfig("regex", r"(?P<a>\w+)=(?P<b>\d+)?", "b"),
    ParserConfig("json", time_field="time"),
    ParserConfig("json", time_field="time", time_format="%Y"),
    ParserConfig("logfmt", time_field="ts"),
    ParserConfig("syslog"),
    ParserConfig("none"),
]

line_text = st.binary(max_size=400).map(lambda b: b.decode("utf-8", "replace"))
interesting = st.one_of(
    line_text,
    st.text(max_size=200),
    st.builds(lambda a, b: f"<{a}>1 {b}", st.integers(-5, 300), st.text(max_size=80)),
    st.builds(
        lambda a, b: f"{a} h p[1]: {b}",
        st.sampled_from(["Nov 28 07:00:00", "Feb 30 25:61:61", "2026-99-99T99:99:99Z"]),
        st.text(max_size=40),
    ),
    st.builds(lambda k, v: f'{k}="{v}', st.text(max_size=10), st.text(max_size=20)),
    st.builds(
        lambda v: '{"time": ' + v + ', "a": {"b": [' + v + "]}}",
        st.sampled_from(
            ["1e308", "-1e400", "99999999999999999999999", '"x"', "null", "true", "NaN", "Infinity"]
        ),
    ),
)


@pytest.mark.parametrize(
    "cfg", ALL_CONFIGS, ids=lambda c: f"{c.type}-{c.time_field}-{c.time_format}"
)
@settings(max_examples=300, deadline=None)
@given(line=interesting)
def test_fuzz_no_exception_escapes(cfg: ParserConfig, line: str) -> None:
    p = make_parser(cfg, clock=time.time)
    fields, t = p.parse(line)
    assert fields is None or all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    )
    assert t is None or isinstance(t, float)
    events, errors = p.events([line], "fuzz", 1.0)
    assert len(events) == 1 and events[0].line == line and errors == (fields is None)
    b = batch(p, "fuzz", 1.0, lines=[line, line])
    assert b.parse_errors == 0  # nothing parsed until looked at
    assert list(b) == events * 2 and b.parse_errors == 2 * errors
    assert p.times([line, line]) == [t, t]


@pytest.mark.parametrize(
    "cfg", ALL_CONFIGS, ids=lambda c: f"{c.type}-{c.time_field}-{c.time_format}"
)
def test_batch_builds_the_same_events_as_events(cfg: ParserConfig) -> None:
    lines = [
        NGINX_LINE,
        '{"time": 1700000000, "a": 1}',
        "ts=1700000000 a=b",
        "garbage",
        "",
        "Nov 28 07:00:00 h sshd[1]: hi",
        "a=12",
    ]
    p = make_parser(cfg, clock=lambda: 1_795_000_000.0)
    events, errors = p.events(lines, "s", 5.0)
    b = batch(p, "s", 5.0, lines=lines)
    assert (list(b), b.parse_errors) == (events, errors)
    assert b.lines == lines and b.source == "s" and len(b) == len(lines)
    assert b[-1] == events[-1] and b[2:4] == events[2:4]
    assert p.times(lines) == [p.parse(line)[1] for line in lines]
    with pytest.raises(IndexError):
        b[len(lines)]
    from_text = batch(p, "s", 5.0, text="\n".join(lines))
    assert list(from_text) == events and from_text.parse_errors == errors


@pytest.mark.parametrize(
    "cfg", ALL_CONFIGS, ids=lambda c: f"{c.type}-{c.time_field}-{c.time_format}"
)
def test_a_batch_parses_only_the_lines_looked_at_and_counts_their_errors(
    cfg: ParserConfig,
) -> None:
    lines = [NGINX_LINE, "garbage", "", "Nov 28 07:00:00 h sshd[1]: hi", "a=12", "junk"]
    p = make_parser(cfg, clock=lambda: 1_795_000_000.0)
    eager = make_parser(cfg, clock=lambda: 1_795_000_000.0)
    parsed: list[str] = []
    real = p.parse

    def parse(line: str) -> ParseResult:
        parsed.append(line)
        return real(line)

    p.parse = parse  # type: ignore[method-assign]  # (this parser's own, wrapped to record)
    b = batch(p, "s", 5.0, text="\n".join(lines))
    assert parsed == [] and b.parse_errors == 0 and b.parsed_lines() == []
    assert not b.split and len(b) == len(lines)  # counted, not split
    looked = [5, 1, 0, 5, 1]
    for i in looked:
        assert b[i] == eager.events([lines[i]], "s", 5.0)[0][0]
    if cfg.type == "none":
        assert parsed == []  # nothing to parse
    else:
        assert parsed == [lines[5], lines[1], lines[0]]  # each line once, when first looked at
    wanted = sum(eager.parse(lines[i])[0] is None for i in {0, 1, 5})
    assert b.parse_errors == wanted and b.parsed_lines() == [0, 1, 5]
    list(b)
    assert b.parse_errors == eager.events(lines, "s", 5.0)[1]
    assert b.parsed_lines() == list(range(len(lines)))


def test_a_picked_batch_is_lazy_too() -> None:
    p = make_parser(ParserConfig("regex", r"^n=(?P<n>\d+)$"))
    b = batch(p, "s", 5.0, text="n=1\njunk\nn=2\nbad")
    picked = b.pick([1, 2])
    assert b.parse_errors == picked.parse_errors == 0 and picked.lines == ["junk", "n=2"]
    assert [dict(e.fields) for e in picked] == [{}, {"n": "2"}] and picked.parse_errors == 1
    assert b.parse_errors == 0 and b.parsed_lines() == []


def test_log_batch_builds_each_event_once() -> None:
    from alerter.core.events import LogBatch

    built: list[str] = []

    def parse(line: str) -> tuple[dict[str, str] | None, float | None]:
        built.append(line)
        return ({"n": line}, 7.0) if line != "1" else (None, None)

    b = LogBatch("s", 1.0, parse, ["0", "1", "2"])
    assert b[1].line == "1" and b[1] is b[-2] and built == ["1"]  # indexing builds that one
    assert b[1].fields == {} and b[1].time == 1.0 and b.parse_errors == 1
    assert [e.line for e in b] == ["0", "1", "2"] and [e.source for e in b] == ["s"] * 3
    assert built == ["1", "0", "2"] and b.parse_errors == 1  # each line parsed once
    assert b[0].fields == {"n": "0"} and b[0].time == 7.0
    assert b[-1] is list(b)[-1] and b[:2] == list(b)[:2] and len(b) == 3
    with pytest.raises(ValueError):
        LogBatch("s", 1.0, None)


def test_a_batch_from_text_splits_its_lines_only_when_they_are_read() -> None:
    from alerter.collectors.parsers import NoneParser

    b = batch(NoneParser(), "s", 5.0, text="a\nb\n\nc")
    assert len(b) == 4 and b.text == "a\nb\n\nc"
    assert not b.split  # counted, not split
    assert b[3].line == "c" and b[3].time == 5.0 and b[3].source == "s"
    assert b.lines == ["a", "b", "", "c"] and [e.line for e in b] == b.lines
    assert repr(b) == "LogBatch(source='s', lines=4)"


def test_a_batch_from_text_is_freed_without_the_garbage_collector() -> None:
    import gc

    from alerter.collectors.parsers import NoneParser

    gc.collect()
    gc.disable()
    try:
        b = batch(NoneParser(), "s", 5.0, text="a\nb")
        assert b[1].line == "b"
        del b
        assert gc.collect() == 0  # no reference cycle: its megabyte of text went at once
    finally:
        gc.enable()


def test_syslog_times_and_errors_cover_rfc5424_and_pri_lines() -> None:
    lines = [
        "<13>Nov  8 07:00:01 h kernel: oops",
        "<165>1 2003-10-11T22:14:15.003Z h app - - - msg",
        "<165>1 - h app - - - no time",
        "<999>junk",
        "Nov 28 07:00:01 web1 sshd[1]: hi",
        "Feb 30 07:00:01 web1 sshd[1]: no such day",
    ]
    p = make_parser(ParserConfig("syslog"), clock=lambda: 1_795_000_000.0)
    expected = [p.parse(line) for line in lines]
    assert p.times(lines) == [t for _, t in expected]
    assert [t is None for t in p.times(lines)] == [False, False, True, True, False, True]
    b = batch(p, "s", 1.0, lines=lines)
    assert [(dict(e.fields) or None, e.time) for e in b] == [
        (f, 1.0 if t is None else t) for f, t in expected
    ]
    assert b.parse_errors == sum(fields is None for fields, _ in expected) == 1


def test_time_cache_is_bounded_and_keeps_values() -> None:
    from alerter.collectors import timefmt

    cache = timefmt.time_cache("epoch")
    for i in range(timefmt.CACHE_SIZE * 2):
        assert cache[str(i)] == float(i)
    assert len(cache) <= timefmt.CACHE_SIZE and cache[None] is None


def test_year_less_syslog_times_follow_the_clock_across_a_year() -> None:
    now = [datetime(2026, 11, 28, 12).timestamp()]
    p = make_parser(ParserConfig("syslog"), clock=lambda: now[0])
    line = "Nov 28 07:00:01 web1 sshd[1]: hi"
    assert p.parse(line)[1] == datetime(2026, 11, 28, 7, 0, 1).timestamp()
    now[0] = datetime(2027, 11, 28, 12).timestamp()
    p.parse("Nov 28 07:00:02 web1 sshd[1]: a miss reads the clock")
    assert p.times([line]) == [datetime(2027, 11, 28, 7, 0, 1).timestamp()]


@pytest.mark.parametrize(
    "cfg",
    [
        ParserConfig("none"),
        ParserConfig("syslog"),
        ParserConfig("regex", r"^(?P<t>\d+) ", "t", "epoch"),
        ParserConfig("regex", r"^(?P<t>\d+) "),
        ParserConfig("json", time_field="ts"),
        ParserConfig("json"),
        ParserConfig("logfmt", time_field="ts", time_format="rfc3339"),
        ParserConfig("logfmt"),
    ],
    ids=repr,
)
def test_a_parser_config_reads_a_time_exactly_when_its_parser_does(cfg: ParserConfig) -> None:
    # what `alerter check` and replay say of a config is what the collector's parser does
    assert cfg.reads_time == reads_time(make_parser(cfg))
    assert cfg.reads_time == (cfg.type == "syslog" or cfg.time_field is not None)
