"""The file collector's lines: over-long lines cut and counted, a block's text, backlog batches,
bytes that are not UTF-8, NUL and CRLF, parse errors counted by the batch."""

from __future__ import annotations

import pytest

import alerter.collectors.tail
from alerter.collectors.lines import lines_within as _lines_within
from alerter.collectors.parsers import ParserConfig
from tests.collectors.file_harness import Harness, append, numbered
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_long_lines_are_cut_and_counted(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["short", "é" * 100, "x" * 300, "after"])
    _, sink = h.start(max_line_bytes=64)
    wait_for(lambda: len(sink.lines) == 4)
    assert sink.lines[0] == "short" and sink.lines[3] == "after"
    assert sink.lines[1] == "é" * 32 and sink.lines[2] == "x" * 64
    assert h.stats.drops[("f", "too_long")] == 2
    append(log, "y" * 500)  # no newline yet: still cut once it exceeds the limit
    wait_for(lambda: len(sink.lines) == 5)
    append(log, "yyy\nlast\n")
    wait_for(lambda: sink.lines[-1] == "last")
    assert sink.lines[4] == "y" * 64 and h.stats.drops[("f", "too_long")] == 3


def test_a_block_of_plain_lines_arrives_with_its_text_and_lines_at_the_limit_are_whole(
    h: Harness,
) -> None:
    lines = [*numbered("line", 50), "a" * 64, "b" * 65, "é" * 32, "ü" * 33, ""]
    append(h.tmp / "app.log", lines)
    _, sink = h.start(max_line_bytes=64)
    wait_for(lambda: len(sink.lines) == len(lines))
    cut = ["b" * 64, "ü" * 32]  # 65 and 66 bytes: cut to 64
    assert sink.lines == [*lines[:51], cut[0], lines[52], cut[1], ""]
    assert sink.texts == [None]  # a line over the limit: the block goes line by line
    assert h.stats.drops[("f", "too_long")] == 2
    more = [*lines[:51], lines[52], "ü" * 32]  # 64 bytes at most
    append(h.tmp / "app.log", more)
    wait_for(lambda: len(sink.lines) == len(lines) + len(more))
    assert sink.texts[1] == "\n".join(more)  # the block as read
    assert sink.lines[len(lines) :] == more


def test_batches_read_behind_the_end_of_a_file_say_so(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`start_at: beginning` on a file of many blocks: every batch but the one that reaches
    its end is a backlog's (LogBatch.backlog); lines appended later are not."""
    monkeypatch.setattr(alerter.collectors.tail, "BLOCK_BYTES", 64)
    lines = numbered("line", 40)  # 310 bytes: 5 blocks of up to 64
    append(h.tmp / "app.log", lines)
    _, sink = h.start(max_line_bytes=63)  # (a block holds a line over the limit and one more byte)
    wait_for(lambda: len(sink.lines) == len(lines))
    assert sink.backlogs == [True] * 4 + [False]
    append(h.tmp / "app.log", ["new"])
    wait_for(lambda: sink.lines[-1:] == ["new"])
    assert sink.backlogs[-1] is False


@pytest.mark.parametrize(
    ("data", "limit", "within"),
    [
        (b"abc\n", 3, True),
        (b"abcd\n", 3, False),
        (b"ab\ncd\nef\n", 2, True),
        (b"ab\ncde\nf\n", 2, False),
        (b"a\n" * 100 + b"b" * 10 + b"\n", 10, True),
        (b"a\n" * 100 + b"b" * 11 + b"\n", 10, False),
        (b"\n\n", 1, True),
    ],
)
def test_lines_within_finds_any_line_over_the_limit(data: bytes, limit: int, within: bool) -> None:
    assert _lines_within(data, limit) is within
    assert within is (max(map(len, data.split(b"\n"))) <= limit)


def test_invalid_utf8_nul_and_crlf(h: Harness) -> None:
    (h.tmp / "app.log").write_bytes(b"bad \xff\xfe byte\nnul \x00 here\r\nok\n")
    _, sink = h.start()
    wait_for(lambda: len(sink.lines) == 3)
    assert sink.lines == ["bad \ufffd\ufffd byte", "nul \x00 here", "ok"]


def test_parse_errors_are_events_with_no_fields_counted_by_the_batch(h: Harness) -> None:
    append(h.tmp / "app.log", ["n=1", "junk", "n=2"])
    _, sink = h.start(parser=ParserConfig("regex", r"^n=(?P<n>\d+)$"))
    wait_for(lambda: len(sink.lines) == 3)
    assert [dict(e.fields) for e in sink.events] == [{"n": "1"}, {}, {"n": "2"}]  # type: ignore[union-attr]
    # the lines are parsed when the consumer looks at them (the sink looked at all three):
    # the batch counts their errors, the collector does not
    assert sink.parse_errors == 1 and ("f", "parse_error") not in h.stats.drops
