"""One contract for every collector type, built the way the daemon builds them: from config YAML
through `parse_collector` and `build_collector`.

Streaming collectors (file, journald) start, emit LogEvents tagged with their name, and stop.
Polling collectors (host, command, http) return Samples taken at `now`, and a failing source
gives samples (`up 0`), never an exception. The prometheus collector scrapes on its own thread
(start, stop) and emits Samples the same way.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from alerter.collectors.base import Collector, PollingCollector
from alerter.config.collectors import CollectorConfig, build_collector, parse_collector
from alerter.core.events import LogEvent, Sample
from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems
from alerter.testing import FixedClock, MemoryPositions, RecordingSink, RecordingStats
from tests.conftest import wait_for

FAKE_JOURNALCTL = """
import json, sys, time
def entry(i):
    return json.dumps({"MESSAGE": f"entry {i}", "__CURSOR": f"c{i}", "PRIORITY": "6",
                       "__REALTIME_TIMESTAMP": "1700000000000000", "SYSLOG_IDENTIFIER": "t"})
if "-f" not in sys.argv:  # -n 1: the last entry
    print(entry(0))
    sys.exit(0)
for i in range(3):  # follow from the cursor (c0, included)
    print(entry(i), flush=True)
time.sleep(60)
"""


def parse(text: str, base_dir: Path) -> CollectorConfig:
    p = Problems(env={})
    cfg = parse_collector(MapReader(load_yaml(text, "c.yaml"), p, "collector"), base_dir)
    p.raise_if_any()
    assert cfg is not None
    return cfg


def file_case(tmp: Path) -> tuple[str, Callable[[], object]]:
    log = tmp / "app.log"
    log.write_text("")
    return (
        "{name: x, type: file, paths: [app.log], start_at: beginning, parser: {type: logfmt}}",
        lambda: log.write_text("a=1\nnot logfmt\n"),
    )


def journald_case(tmp: Path) -> tuple[str, Callable[[], object]]:
    script = tmp / "journalctl.py"
    script.write_text(FAKE_JOURNALCTL)
    return json.dumps(
        {"name": "x", "type": "journald", "journalctl": [sys.executable, str(script)]}
    ), lambda: None


STREAMING = {"file": file_case, "journald": journald_case}

POLLING = {
    "host": "{name: x, type: host, interval: 1s, systemd: false}",
    "command": f"{{name: x, type: command, argv: ['{sys.executable}', '-c', 'print(1)'], timeout: 5s}}",
    "http": "{name: x, type: http, url: 'http://127.0.0.1:1/health', timeout: 1s}",
}


@pytest.fixture
def stats() -> RecordingStats:
    return RecordingStats()


@pytest.mark.integration
@pytest.mark.parametrize("ctype", sorted(STREAMING))
def test_streaming_collector_contract(ctype: str, tmp_path: Path, stats: RecordingStats) -> None:
    text, produce = STREAMING[ctype](tmp_path)
    cfg = parse(text, tmp_path)
    assert (cfg.name, cfg.type) == ("x", ctype)
    c = build_collector(cfg, MemoryPositions(), stats, FixedClock())
    assert isinstance(c, Collector) and not isinstance(c, PollingCollector)
    assert c.name == "x"
    sink = RecordingSink()
    c.start(sink)
    try:
        produce()
        wait_for(lambda: len(sink.events) >= 2)  # journald: c0 is skipped
        got = list(sink.events)  # (the collector still runs)
        events = [e for e in got if isinstance(e, LogEvent)]
        assert events == got
        assert all(e.source == "x" and isinstance(e.line, str) for e in events)
        assert all(isinstance(v, str) for e in events for v in e.fields.values())
        assert stats.ups.get("x") is True
    finally:
        c.stop()
    c.stop()  # stopping twice is harmless


@pytest.mark.integration
@pytest.mark.parametrize("ctype", sorted(POLLING))
def test_polling_collector_contract(ctype: str, tmp_path: Path, stats: RecordingStats) -> None:
    cfg = parse(POLLING[ctype], tmp_path)
    c = build_collector(cfg, MemoryPositions(), stats, FixedClock())
    assert isinstance(c, PollingCollector) and c.name == "x" and c.interval > 0
    samples = c.collect(1_700_000_000.0)
    assert samples and all(isinstance(s, Sample) for s in samples)
    assert all(
        s.time == 1_700_000_000.0 and s.source == "x" and math.isfinite(s.value) for s in samples
    )
    assert all("__name__" not in s.labels for s in samples)
    assert "x" in stats.ups  # every reading reports whether the source could be read


SCRAPING = {
    "prometheus": "{name: x, type: prometheus, url: 'http://127.0.0.1:1/metrics', timeout: 1s}",
}


@pytest.mark.integration
@pytest.mark.parametrize("ctype", sorted(SCRAPING))
def test_scraping_collector_contract(ctype: str, tmp_path: Path, stats: RecordingStats) -> None:
    clock = FixedClock(1_600_000_000.0)
    c = build_collector(parse(SCRAPING[ctype], tmp_path), MemoryPositions(), stats, clock)
    assert isinstance(c, Collector) and not isinstance(c, PollingCollector) and c.name == "x"
    sink = RecordingSink()
    c.start(sink)
    try:
        wait_for(lambda: any(isinstance(e, Sample) and e.name == "up" for e in sink.events))
    finally:
        c.stop()
    assert {e.time for e in sink.events} == {clock.now()}  # the daemon's clock, as when polled
    c.stop()  # stopping twice is harmless
    samples = [s for s in sink.events if isinstance(s, Sample)]
    assert samples == sink.events
    assert all(s.source == "x" for s in samples)
    assert all(math.isfinite(s.value) and "__name__" not in s.labels for s in samples)
    assert stats.ups["x"] is False  # refused: up 0, no exception


def test_every_type_has_a_contract_case() -> None:
    from alerter.config.collectors import COLLECTOR_TYPES

    assert set(COLLECTOR_TYPES) == set(STREAMING) | set(POLLING) | set(SCRAPING)
