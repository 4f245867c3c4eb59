"""collectors/scrape.py: the Prometheus text exposition read as Prometheus reads it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from alerter.collectors.scrape import MAX_AHEAD, ExpositionError, parse_exposition
from alerter.rules.selectorload import parse_selector

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


TESTDATA = Path(__file__).parent / "testdata"
# scraped 23 s after the one timestamp the textfile fixture writes (2015): an older scrape time
# than NOW, where its sample would be rejected as too old
SCRAPED = 1_441_206_000.0


def written_names(text: str) -> list[str]:
    """The metric name of each sample line, as the text writes it (these files quote none)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [re.split(r"[{ \t]", ln, maxsplit=1)[0] for ln in lines]


@pytest.mark.parametrize("name", ["node_exporter_e2e.prom", "node_exporter_textfile.prom"])
def test_node_exporter_s_outputs_are_read_as_written(name: str) -> None:
    text = (TESTDATA / name).read_text()
    got = parse_exposition(text, "node", SCRAPED, {"job": "node"}).samples
    assert [s.name for s in got] == written_names(text)
    assert all(s.labels["job"] == "node" for s in got)


def test_node_exporter_s_summary_histogram_info_and_timestamps_keep_their_text() -> None:
    got = parse_exposition((TESTDATA / "node_exporter_textfile.prom").read_text(), "n", SCRAPED)
    by = {(s.name, tuple(sorted(s.labels.items()))): s for s in got.samples}
    # a summary named ..._total: its quantiles, _sum and _count as written
    quantile = by["event_duration_seconds_total", (("baz", "inner_eval"), ("quantile", "0.99"))]
    assert quantile.value == 4.35e-06
    assert (
        by["event_duration_seconds_total_count", (("baz", "inner_eval"),)].value == 1.492355615e09
    )
    # bucket bounds as written (Prometheus 3 would store le="100.0")
    assert (
        by["prometheus_tsdb_compaction_chunk_range_bucket", (("le", "1.6384e+06"),)].value
        == 1.69185e06
    )
    assert ("prometheus_tsdb_compaction_chunk_range_bucket", (("le", "100"),)) in by
    assert by["metric_with_custom_timestamp", ()].time == 1441205977.284
    assert by["normal_metric", ()].time == SCRAPED

    e2e = parse_exposition((TESTDATA / "node_exporter_e2e.prom").read_text(), "n", NOW).samples
    infos = [dict(s.labels) for s in e2e if s.name == "node_btrfs_info"]
    assert infos == [  # label="" is no label, as Prometheus stores it
        {"uuid": "7f07c59f-6136-449c-ab87-e1cf2328731b"},
        {"label": "fixture", "uuid": "0abb23a9-579b-43e6-ad30-227ef47fcb9d"},
    ]


def test_prometheus_client_s_own_exposition_is_read_as_written() -> None:
    """What a Python target serves (prometheus_client's generate_latest, the library this
    project uses): counters as `x_total` plus `x_created`, an Info as `x_info`, a unit as a
    suffix; every name as written."""
    from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
    from prometheus_client.exposition import generate_latest

    r = CollectorRegistry()
    Counter("jobs", "Jobs.", ["queue"], registry=r).labels('a\\b\n"c"').inc(3)
    Counter("bytes_total", "Bytes.", registry=r).inc(5)
    Gauge("temperature", "T.", unit="celsius", registry=r).set(float("nan"))
    Histogram("latency_seconds", "L.", buckets=(0.5,), registry=r).observe(0.25)
    Summary("size_bytes", "S.", registry=r).observe(7)
    Info("build", "B.", registry=r).info({"version": "1.2"})
    Enum("state", "St.", states=["up", "down"], registry=r).state("down")
    text = generate_latest(r).decode()
    got = parse_exposition(text, "py", NOW).samples
    assert [s.name for s in got] == written_names(text)
    names = {s.name for s in got}
    assert {"jobs_total", "jobs_created", "bytes_total", "bytes_created"} <= names
    assert {"temperature_celsius", "build_info", "state"} <= names
    assert {"latency_seconds_bucket", "latency_seconds_sum", "latency_seconds_count"} <= names
    assert {"size_bytes_sum", "size_bytes_count", "size_bytes_created"} <= names
    [jobs] = [s for s in got if s.name == "jobs_total"]
    assert jobs.labels == {"queue": 'a\\b\n"c"'} and jobs.value == 3.0
    assert {s.labels["le"] for s in got if s.name == "latency_seconds_bucket"} == {"0.5", "+Inf"}
    assert math.isnan(next(s.value for s in got if s.name == "temperature_celsius"))


def test_a_counter_without_total_is_found_by_the_rule_that_selects_it() -> None:
    """A script's `# TYPE backups_done counter` / `backups_done 4`: Prometheus stores
    `backups_done`, so a rule written against it selects that name."""
    text = '# TYPE backups_done counter\nbackups_done{repo="home"} 4\n'
    [got] = parse_exposition(text, "b", NOW, {"job": "b"}).samples
    assert parse_selector('backups_done{repo="home"}').matches(got.name, got.labels)
    assert not parse_selector("backups_done_total").matches(got.name, got.labels)


def test_timestamps_more_than_an_hour_old_are_rejected_counted_and_the_first_named() -> None:
    from alerter.collectors.scrape import MAX_AGE, Rejected

    old_ms = int((NOW - MAX_AGE - 1) * 1000)
    recent_ms = int((NOW - MAX_AGE + 1) * 1000)
    seconds = int(NOW)  # `date +%s`: read as milliseconds, January 1970
    text = f'a 1 {seconds}\nb 2 {recent_ms}\nc{{x="1"}} 3 {old_ms}\nd 4\n'
    got = parse_exposition(text, "app", NOW)
    assert [s.name for s in got.samples] == ["b", "d"]
    assert got.too_old == 2 and got.future == 0
    assert got.first_too_old == Rejected("a", seconds / 1000)
