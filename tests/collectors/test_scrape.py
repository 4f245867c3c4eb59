"""collectors/scrape.py: the Prometheus text exposition read as Prometheus reads it."""

from __future__ import annotations

import pytest

from alerter.collectors.scrape import MAX_AHEAD, ExpositionError, parse_exposition

NOW = 1_700_000_060.0


def test_a_sample_s_own_timestamp_is_its_time() -> None:
    text = 'a 1 1700000000000\nb{x="y"} 2\nc 3 1700000030500\n'
    got = parse_exposition(text, "app", NOW)
    assert {s.name: s.time for s in got.samples} == {
        "a": 1_700_000_000.0,
        "b": NOW,  # no timestamp: the scrape's time
        "c": 1_700_000_030.5,
    }
    assert got.future == 0


def test_far_future_timestamps_are_rejected_and_counted() -> None:
    ahead_ms = int((NOW + MAX_AHEAD + 1) * 1000)
    near_ms = int((NOW + MAX_AHEAD - 1) * 1000)
    text = f"a 1 {ahead_ms}\nb 2 {near_ms}\nc 3\nd 4 99999999999999\n"
    got = parse_exposition(text, "app", NOW)
    assert [s.name for s in got.samples] == ["b", "c"]
    assert got.future == 2


def test_a_parse_error_names_its_line() -> None:
    with pytest.raises(ExpositionError) as e:
        parse_exposition('# TYPE a gauge\na 1\n\nb{x="1" 2\nc 3\n', "app", NOW)
    assert e.value.line == 4
    assert "line 4" in str(e.value)
