"""Fixtures for the collector side of the bus: a recording sink, in-memory positions and
recording stats (the fakes are alerter.testing's); `h`, the file collectors' harness on a
temporary directory (tests/collectors/file_harness.py; test_copytruncate.py has its own); a
loopback HTTP server whose responses a test scripts, for the polling collectors, and helpers to
read the samples they give."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from alerter.core.events import Sample
from alerter.testing import MemoryPositions, RecordingSink, RecordingStats
from tests.collectors.file_harness import Harness


@pytest.fixture
def positions() -> MemoryPositions:
    return MemoryPositions()


@pytest.fixture
def stats() -> RecordingStats:
    return RecordingStats()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def h(tmp_path: Path, positions: MemoryPositions, stats: RecordingStats) -> Iterator[Harness]:
    harness = Harness(tmp_path, positions, stats)
    yield harness
    for c in list(harness.running):
        c.stop()


def others_read_to_end(positions: MemoryPositions, live: Path, collector: str = "f") -> bool:
    """Every saved position but the file now at `live` is at its file's end: the rotated files
    were finished (their positions stay, as tombstones that keep them known)."""
    import json

    ino = live.stat().st_ino
    saved = [json.loads(v) for v in positions.load_positions(collector).values()]
    others = [p for p in saved if p["ino"] != ino]
    return bool(others) and all(p["offset"] == p["size"] for p in others)


NOW = 1_700_000_000.0

EXPOSITION = """\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",instance="mine"} 1027
http_requests_total{code="500"} 3
# TYPE temperature gauge
temperature 21.5
# TYPE latency histogram
latency_bucket{le="0.1"} 5
latency_bucket{le="+Inf"} 7
latency_sum 1.5
latency_count 7
"""


class Site:
    """A loopback HTTP server whose responses the test scripts: status, body, delay."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.status = 200
        self.body = EXPOSITION.encode()
        self.delay = threading.Event()  # set: the handler hangs until `release` is set
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if site.delay.is_set():
                    site.release.wait(10)
                self.send_response(site.status)
                self.send_header("Content-Length", str(len(site.body)))
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


def by_name(samples: list[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.name, []).append(s)
    return out


def value(samples: list[Sample], name: str, **labels: str) -> float:
    [s] = [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return s.value
