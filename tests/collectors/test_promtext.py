"""collectors/promtext.py: a line of the text format read as Prometheus's own parser reads it.

Inputs come from the test suites of Prometheus (model/textparse/promparse_test.go at
d15adb9ad7e5d9fbde3a9a8f30200593a5a14d86) and of prometheus_client (tests/test_parser.py at
d0b497ffe069865537e55af52cb00c329d58a6f0); the expected series are Prometheus's.
"""

from __future__ import annotations

import math
import struct

import pytest

from alerter.collectors.promtext import TextSample, parse_line
from alerter.collectors.scrape import ExpositionError, parse_exposition
from alerter.core.events import STALE_NAN


def series(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, dict(s.labels), s.value) for s in parse_exposition(text, "t", 0.0).samples]


# TestPromParse's input (promparse_test.go), less its type-and-unit lines. Prometheus 3 also
# rewrites a histogram's `le` and a summary's `quantile` ("0" -> "0.0"); alerter keeps them
# as written, as Prometheus 2 did.
PROMPARSE_INPUT = """\
# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# \tTYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25",} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
go_gc_duration_seconds{quantile="0.8", a="b"} 8.3835e-05
go_gc_duration_seconds{ quantile="0.9", a="b"} 8.3835e-05
# HELP prometheus_http_request_duration_seconds Histogram of latencies for HTTP requests.
# TYPE prometheus_http_request_duration_seconds histogram
prometheus_http_request_duration_seconds_bucket{handler="/",le="1"} 423
prometheus_http_request_duration_seconds_bucket{handler="/",le="2"} 1423
prometheus_http_request_duration_seconds_bucket{handler="/",le="+Inf"} 1423
prometheus_http_request_duration_seconds_sum{handler="/"} 2000
prometheus_http_request_duration_seconds_count{handler="/"} 1423
# Hrandom comment starting with prefix of HELP
#
wind_speed{A="2",c="3"} 12345
# comment with escaped \\n newline
# comment with escaped \\ escape character
# HELP nohelp1
# HELP nohelp2\x20
go_gc_duration_seconds{ quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile= "1.0", a= "b", } 8.3835e-05
go_gc_duration_seconds { quantile = "1.0", a = "b" } 8.3835e-05
go_gc_duration_seconds { quantile = "2.0" a = "b" } 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b="c"}\t1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  \t123123
# TYPE some_counter_total counter
# HELP some_counter_total Help after type.
some_counter_total 12
# HELP nohelp3
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore="foo"} 1
testmetric{label="\\"bar\\""} 1
testmetric{le="10"} 1
# HELP metric foo\x00bar
null_byte_metric{a="abc\x00"} 1
"""


def test_prometheus_s_own_parser_test_input_gives_its_series() -> None:
    got = parse_exposition(PROMPARSE_INPUT, "t", 0.0).samples
    gc, ab = "go_gc_duration_seconds", {"a": "b"}
    hist = "prometheus_http_request_duration_seconds"
    assert [(s.name, dict(s.labels), s.value) for s in got] == [
        (gc, {"quantile": "0"}, 4.9351e-05),
        (gc, {"quantile": "0.25"}, 7.424100000000001e-05),
        (gc, {"quantile": "0.5", **ab}, 8.3835e-05),
        (gc, {"quantile": "0.8", **ab}, 8.3835e-05),
        (gc, {"quantile": "0.9", **ab}, 8.3835e-05),
        (f"{hist}_bucket", {"handler": "/", "le": "1"}, 423.0),
        (f"{hist}_bucket", {"handler": "/", "le": "2"}, 1423.0),
        (f"{hist}_bucket", {"handler": "/", "le": "+Inf"}, 1423.0),
        (f"{hist}_sum", {"handler": "/"}, 2000.0),
        (f"{hist}_count", {"handler": "/"}, 1423.0),
        ("wind_speed", {"A": "2", "c": "3"}, 12345.0),
        # the next four lines are one series: the first is kept, as Prometheus keeps it
        (gc, {"quantile": "1.0", **ab}, 8.3835e-05),
        (gc, {"quantile": "2.0", **ab}, 8.3835e-05),
        (f"{gc}_count", {}, 99.0),
        ("some:aggregate:rate5m", {"a_b": "c"}, 1.0),
        ("go_goroutines", {}, 33.0),
        ("some_counter_total", {}, 12.0),
        ("_metric_starting_with_underscore", {}, 1.0),
        ("testmetric", {"_label_starting_with_underscore": "foo"}, 1.0),
        ("testmetric", {"label": '"bar"'}, 1.0),
        ("testmetric", {"le": "10"}, 1.0),
        ("null_byte_metric", {"a": "abc\x00"}, 1.0),
    ]
    assert {s.name: s.time for s in got}["go_goroutines"] == 123.123


def test_quoted_names_as_prometheus_3_reads_them() -> None:
    # TestUTF8PromParse (promparse_test.go), two of its lines
    text = (
        '{"go.gc_duration_seconds", quantile="1.0", a="b" } 8.3835e-05\n'
        '{"Heizölrückstoßabdämpfung 10€ metric with \\"interesting\\" {character\\nchoices}",'
        '"strange©™\\n\'quoted\' \\"name\\""="6"} 10.0\n'
    )
    assert series(text) == [
        ("go.gc_duration_seconds", {"quantile": "1.0", "a": "b"}, 8.3835e-05),
        (
            'Heizölrückstoßabdämpfung 10€ metric with "interesting" {character\nchoices}',
            {"strange©™\n'quoted' \"name\"": "6"},
            10.0,
        ),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "# TYPE a counter\n# HELP a help\na 1\n",  # prometheus_client test_simple_counter
        "# HELP a help\n# TYPE a counter\na 1\n",
        "#\tTYPE\ta\tcounter\n#\tHELP\ta\thelp\na\t1\n",  # test_tabs
    ],
)
def test_a_counter_declared_without_total_keeps_its_name(text: str) -> None:
    """prometheus_client's parser reads `a` as `a_total` (its tests expect it); Prometheus
    stores `a`, and a rule selecting `a` must find it."""
    assert series(text) == [("a", {}, 1.0)]


def test_a_counter_s_created_and_an_info_keep_their_names() -> None:
    text = (
        "# TYPE a counter\na 1\na_created 1.7e9\n"
        "# TYPE b_total counter\nb_total 2\nb_created 1.7e9\n"
        '# TYPE build_info gauge\nbuild_info{version="1"} 1\n'
        "# TYPE c untyped\nc_total 3\n"
    )
    assert [name for name, _, _ in series(text)] == [
        "a",
        "a_created",
        "b_total",
        "b_created",
        "build_info",
        "c_total",
    ]


def test_quoted_counter_name_from_prometheus_client_s_tests() -> None:
    # test_complex_name_counter: prometheus_client names the sample `..._total`
    text = (
        '# TYPE "my.counter{} # = \\" \\n" counter\n'
        '# HELP "my.counter{} # = \\" \\n" help\n'
        '{"my.counter{} # = \\" \\n", "awful. }}{{ # HELP EOF name"="\\n yikes } \\" value"} 1\n'
    )
    assert series(text) == [
        ('my.counter{} # = " \n', {"awful. }}{{ # HELP EOF name": '\n yikes } " value'}, 1.0)
    ]


def test_label_values_unescape_backslash_quote_and_newline_only() -> None:
    # prometheus_client test_escaping; Prometheus keeps an unknown escape (`\z`) as written
    text = '# TYPE a counter\n# HELP a he\\n\\\\l\\tp\na{foo="b\\"a\\nr"} 1\na{foo="b\\\\a\\z"} 2\n'
    assert series(text) == [("a", {"foo": 'b"a\nr'}, 1.0), ("a", {"foo": "b\\a\\z"}, 2.0)]


def test_spacing_prometheus_accepts() -> None:
    # prometheus_client test_spaces and test_commas (those Prometheus accepts too)
    text = (
        'a{ foo = "bar" } 1\n'
        'a\t\t{\t\tfoo\t\t=\t\t"baz"\t\t}\t\t2\n'
        'a   {    foo   =  "buz"   }    3\n'
        'a{foo="bez"}6\n'
        'a{foo="bin",  } 7\n'
        "b{} 8\n"
        "  c 9  \n"
    )
    assert series(text) == [
        ("a", {"foo": "bar"}, 1.0),
        ("a", {"foo": "baz"}, 2.0),
        ("a", {"foo": "buz"}, 3.0),
        ("a", {"foo": "bez"}, 6.0),
        ("a", {"foo": "bin"}, 7.0),
        ("b", {}, 8.0),
        ("c", {}, 9.0),
    ]


def test_a_label_with_an_empty_value_is_no_label() -> None:
    """Prometheus drops it at the scrape: `a{x=""}` is `a`, and gets the target's labels."""
    got = parse_exposition('a{x="",job=""} 1\n', "t", 0.0, {"job": "app"}).samples
    assert [dict(s.labels) for s in got] == [{"job": "app"}]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("NaN", math.nan),
        ("nan", math.nan),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("Infinity", math.inf),
        ("-inf", -math.inf),
        ("1.", 1.0),
        (".5", 0.5),
        ("1E3", 1000.0),
        ("-0", -0.0),
        ("1e-400", 0.0),  # underflows quietly, as in Go
        ("007", 7.0),
    ],
)
def test_values_go_s_parsefloat_reads(text: str, value: float) -> None:
    got = parse_line(f"a {text}")
    assert isinstance(got, TextSample)
    if math.isnan(value):
        assert math.isnan(got.value)
        assert struct.pack(">d", got.value) != struct.pack(">d", STALE_NAN)  # a value, not stale
    else:
        assert got.value == value


def test_timestamps_are_integer_milliseconds() -> None:
    # prometheus_client test_timestamps: "1\t000" is the value 1 at 0 ms
    assert parse_line('a{foo="bar"} 1\t000') == TextSample("a", {"foo": "bar"}, 1.0, 0.0)
    assert parse_line("b 88   1234566000   ") == TextSample("b", {}, 88.0, 1234566.0)
    assert parse_line("c 1 9223372036854775807") is not None


@pytest.mark.parametrize(
    "line",
    [
        # TestPromParseErrors (promparse_test.go)
        "a",
        "a{b='c'} 1",
        "a{b=",
        'a{b="\\" 1',
        "a true",
        'something_weird{problem="',
        'empty_label_name{=""} 0',
        "{A}0",
        "foo 1_2",
        "foo 0x1p-3",
        "foo 0x1P-3",
        "foo 0 1_2",
        '{a="ok"} 1',
        "# TYPE #",
        "# HELP #",
        '{"a", "b = "c"}',
        'a{b="\x00',
        # read by prometheus_client, refused by Prometheus
        "# TYPE  a  counter",  # test_extra_whitespace: the type is " counter"
        "b{,} 2",  # test_commas
        'a{foo="bar",, } 1',  # test_multiple_trailing_commas (refused by both)
        "# TYPE a info",
        "# TYPE a",
        "a 1 2 3",  # prometheus_client took the last field as the timestamp
        "a 1 1.5",
        "a 1 -5",
        "a 1 9223372036854775808",
        "a 1e400",
        "a +nan",
        "a 1\r",  # CRLF
        "a 0x10",
        "a \u0661",  # a digit, but not an ASCII one
        'a{__name__="b"} 1',
        '{__name__="b"} 1',
        'a{b="1",b="2"} 1',
        'a{"b"} 1',
        'a 1 # {trace_id="x"} 1',  # an OpenMetrics exemplar
    ],
)
def test_what_prometheus_refuses_fails(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


def test_comments_help_and_blank_lines_are_not_samples() -> None:
    for line in ("", "  \t", "#", "# EOF", "#HELP a b", "# HELPER a", "# HELP a", "# UNIT a s"):
        assert parse_line(line) is None, line


def test_the_failing_line_is_named() -> None:
    with pytest.raises(ExpositionError) as e:
        parse_exposition("a 1\n# TYPE a counter\na 1 2 3\n", "t", 0.0)
    assert e.value.line == 3
