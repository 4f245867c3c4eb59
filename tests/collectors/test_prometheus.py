"""The prometheus collector against a loopback HTTP server: the series a scrape gives, with job,
instance and up; sample timestamps honoured, far-future and hour-old ones rejected and told;
a failing target gives up 0, not an exception; the scrape loop stamps with the daemon's clock."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from alerter.collectors.prometheus import PrometheusCollector, PrometheusConfig
from alerter.config.collectors import build_collector, parse_collector
from alerter.core.events import LogBatch, Sample
from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems
from alerter.testing import FixedClock, MemoryPositions, RecordingStats
from tests.collectors.conftest import NOW, Site, value


@pytest.mark.integration
def test_scrape_gives_series_with_job_and_instance_plus_up(site: Site) -> None:
    stats = RecordingStats()
    c = PrometheusCollector(PrometheusConfig("app", site.url + "/metrics"), stats)
    samples = c.scrape(NOW)
    instance = site.url.removeprefix("http://")
    assert value(samples, "http_requests_total", code="500") == 3.0
    assert value(samples, "http_requests_total", code="200") == 1027.0
    assert value(samples, "http_requests_total", code="200", instance="mine") == 1027.0  # kept
    assert value(samples, "temperature", job="app", instance=instance) == 21.5
    assert value(samples, "latency_bucket", le="+Inf") == 7.0
    assert value(samples, "up") == 1.0 and value(samples, "scrape_samples_scraped") == 7.0
    assert value(samples, "scrape_duration_seconds") >= 0
    assert all(s.time == NOW and s.source == "app" for s in samples)
    assert stats.ups["app"] is True


def test_a_series_given_twice_keeps_its_first_sample_and_the_target_s_own_up_gives_way(
    site: Site,
) -> None:
    site.body = b'dupc_total 10\ndupc_total 3\nup 0\nup{shard="a"} 0\n'
    samples = PrometheusCollector(
        PrometheusConfig("app", site.url + "/m"), RecordingStats()
    ).scrape(NOW)
    assert [s.value for s in samples if s.name == "dupc_total"] == [10.0]  # not a "reset" to 3
    ups = sorted((s.labels.get("shard", ""), s.value) for s in samples if s.name == "up")
    assert ups == [("", 1.0), ("a", 0.0)]  # the scrape's own up; another series stays


def test_a_scrape_honours_sample_timestamps_and_rejects_far_future_ones(site: Site) -> None:
    old, ahead = int((NOW - 60) * 1000), int((NOW + 3600) * 1000)
    site.body = f"stamped 1 {old}\nfuture 2 {ahead}\nplain 3\n".encode()
    stats = RecordingStats()
    samples = PrometheusCollector(PrometheusConfig("app", site.url + "/m"), stats).scrape(NOW)
    times = {s.name: s.time for s in samples}
    assert times["stamped"] == NOW - 60 and times["plain"] == NOW and "future" not in times
    assert stats.drops[("app", "future_timestamp")] == 1
    assert value(samples, "up") == 1.0


def test_a_scrape_rejects_timestamps_over_an_hour_old_counts_and_logs_them_once(
    site: Site,
) -> None:
    # a textfile script writing `date +%s`: seconds, read as milliseconds (January 1970), so
    # no rule's window would ever reach the series; up stays 1 (the scrape itself worked)
    seconds, hour_old = int(NOW), int((NOW - 3700) * 1000)
    site.body = f"backup_failed 1 {seconds}\nbackup_size 5 {seconds}\nx 2 {hour_old}\n".encode()
    stats = RecordingStats()
    with structlog.testing.capture_logs() as logs:
        samples = PrometheusCollector(PrometheusConfig("app", site.url + "/m"), stats).scrape(NOW)
    assert not {"backup_failed", "backup_size", "x"} & {s.name for s in samples}
    assert stats.drops[("app", "too_old")] == 3
    assert value(samples, "up") == 1.0
    [event] = [e for e in logs if e["event"] == "samples_rejected"]
    assert event["reason"] == "too_old" and event["count"] == 3
    assert event["series"] == "backup_failed"
    assert event["time"] == "1970-01-20T16:13:20+00:00"
    assert "seconds" in event["hint"]


def test_an_hour_old_timestamp_written_in_milliseconds_gets_no_seconds_hint(site: Site) -> None:
    site.body = f"x 2 {int((NOW - 7200) * 1000)}\n".encode()
    stats = RecordingStats()
    with structlog.testing.capture_logs() as logs:
        PrometheusCollector(PrometheusConfig("app", site.url + "/m"), stats).scrape(NOW)
    [event] = [e for e in logs if e["event"] == "samples_rejected"]
    assert event["series"] == "x" and "hint" not in event


@pytest.mark.integration
@pytest.mark.parametrize("failure", ["status", "garbage", "too_large", "refused", "timeout"])
def test_a_failing_target_gives_up_0_not_an_exception(site: Site, failure: str) -> None:
    cfg = PrometheusConfig("app", site.url + "/metrics")
    if failure == "status":
        site.status = 503
    elif failure == "garbage":
        site.body = b"this is { not an exposition\n"
    elif failure == "too_large":
        site.body = b"# big\n" * 1000
        cfg = dataclasses.replace(cfg, max_bytes=1024)
    elif failure == "refused":
        cfg = dataclasses.replace(cfg, url="http://127.0.0.1:1/metrics")
    elif failure == "timeout":
        site.delay.set()
        cfg = dataclasses.replace(cfg, timeout=0.2)
    stats = RecordingStats()
    samples = PrometheusCollector(cfg, stats).scrape(NOW)
    assert [s.name for s in samples] == ["up", "scrape_duration_seconds", "scrape_samples_scraped"]
    assert value(samples, "up") == 0.0 and stats.ups["app"] is False
    assert stats.drops[("app", "parse_error")] == (1 if failure == "garbage" else 0)


class FirstScrape:
    """A sink that takes one batch of samples, then answers as a stopping daemon does (False),
    which ends the scrape loop."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.taken = threading.Event()

    def put_lines(self, batch: LogBatch, ack: Any = None) -> bool:
        return False

    def put_samples(self, samples: Sequence[Sample]) -> bool:
        self.samples = list(samples)
        self.taken.set()
        return False


def test_the_scrape_loop_stamps_samples_with_the_daemon_s_clock(site: Site) -> None:
    """Built as the daemon builds it, a prometheus collector stamps its samples with the clock
    the daemon polls the other collectors with (it took time.time, whatever the daemon's)."""
    problems = Problems(env={})
    text = f"{{name: app, type: prometheus, url: '{site.url}/metrics', interval: 60s}}"
    cfg = parse_collector(MapReader(load_yaml(text, "c.yaml"), problems, "collector"), Path("."))
    assert cfg is not None
    clock = FixedClock(1_600_000_000.0)  # years from time.time()
    c = build_collector(cfg, MemoryPositions(), RecordingStats(), clock)
    assert isinstance(c, PrometheusCollector)
    sink = FirstScrape()
    c.start(sink)
    try:
        assert sink.taken.wait(10)
    finally:
        c.stop()
    assert value(sink.samples, "temperature") == 21.5 and value(sink.samples, "up") == 1.0
    assert {s.time for s in sink.samples} == {clock.now()}
