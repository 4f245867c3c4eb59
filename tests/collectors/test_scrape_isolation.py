"""Hung scrape targets: every scrape ends by its timeout whatever the target sends, a scrape
still running when the next is due is skipped and counted, and a daemon with ten hung targets
keeps scraping its healthy target and reading host metrics every interval."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.collectors.prometheus import SKIPPED, PrometheusCollector, PrometheusConfig
from alerter.core.events import Sample
from alerter.testing import RecordingSink, RecordingStats, free_port
from tests.conftest import stop_process, wait_for

pytestmark = pytest.mark.integration

NOW = 1_700_000_000.0
MODES = ("silent", "headers", "body", "body_with_length", "chunked", "tls_handshake")


class Hung:
    """A loopback target that accepts, reads the request and then, forever (until closed):
    says nothing (silent; tls_handshake: to an https client, so it hangs in the handshake), or
    sends its headers (headers) or its body (the others) a byte at a time, each byte well
    within any read timeout."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.accepted = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if mode == "tls_handshake" else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/metrics"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)
            if self.mode == "headers":
                self._trickle(conn, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            if self.mode == "body":
                self._trickle(conn, head + b"\r\n", b"#")
            elif self.mode == "body_with_length":
                self._trickle(conn, head + b"Content-Length: 1000000\r\n\r\n", b"#")
            elif self.mode == "chunked":
                self._trickle(conn, head + b"Transfer-Encoding: chunked\r\n\r\n", b"1\r\n#\r\n")
            self._stop.wait()  # silent, or the peer went away

    def _trickle(self, conn: socket.socket, first: bytes, each: bytes) -> None:
        conn.sendall(first)
        while not self._stop.wait(0.05):
            conn.sendall(each)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for c in self._conns:
                c.close()


class Healthy:
    """A loopback target answering a small exposition; counts the scrapes it answers."""

    def __init__(self) -> None:
        self.scrapes = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.scrapes += 1
                body = b"# TYPE ok gauge\nok 1\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hung(request: pytest.FixtureRequest) -> Iterator[Hung]:
    h = Hung(request.param)
    yield h
    h.close()


def value(samples: list[Sample], name: str) -> float:
    [s] = [s for s in samples if s.name == name]
    return s.value


def fetch_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"scrape-{name}-get" and t.is_alive()]


@pytest.mark.parametrize("hung", MODES, indirect=True)
def test_a_scrape_ends_at_its_timeout_whatever_the_target_sends(hung: Hung) -> None:
    stats = RecordingStats()
    c = PrometheusCollector(PrometheusConfig(f"t-{hung.mode}", hung.url, timeout=0.5), stats)
    for _ in range(2):  # the target trickles forever: returning at all is the deadline's doing
        samples = c.scrape(NOW)
        assert value(samples, "up") == 0.0 and value(samples, "scrape_samples_scraped") == 0.0
        assert value(samples, "scrape_duration_seconds") >= 0.5
        assert stats.ups[c.name] is False
        # Ended by the socket's shutdown, not left running behind the collector's back.
        wait_for(lambda: not fetch_threads(c.name), timeout=10)
    assert hung.accepted == 2
    assert not stats.drops


def test_a_scrape_still_running_at_the_next_is_skipped_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    healthy = Healthy()
    stats = RecordingStats()
    c = PrometheusCollector(PrometheusConfig("app", healthy.url, timeout=1.0), stats)
    stuck = threading.Event()
    real_fetch = c._fetch

    def unending(now: float) -> list[Sample] | None:  # as a DNS lookup no shutdown can end
        stuck.wait(60)
        return real_fetch(now)

    monkeypatch.setattr(c, "_fetch", unending)
    try:
        first = c.scrape(NOW)
        assert value(first, "up") == 0.0 and len(fetch_threads("app")) == 1
        second = c.scrape(NOW)  # still running: skipped, no second scrape in flight
        assert value(second, "up") == 0.0 and len(fetch_threads("app")) == 1
        assert stats.drops[("app", SKIPPED)] == 1
        monkeypatch.setattr(c, "_fetch", real_fetch)
        stuck.set()
        wait_for(lambda: not fetch_threads("app"), timeout=10)
        third = c.scrape(NOW)
        assert value(third, "up") == 1.0 and value(third, "ok") == 1.0
        assert stats.drops[("app", SKIPPED)] == 1
    finally:
        stuck.set()
        healthy.close()


@pytest.mark.parametrize("hung", ["body"], indirect=True)
def test_stop_cuts_a_scrape_in_flight_short(hung: Hung) -> None:
    c = PrometheusCollector(
        PrometheusConfig("long", hung.url, interval=120, timeout=100), RecordingStats()
    )
    c.start(RecordingSink())
    wait_for(lambda: hung.accepted == 1)
    loop = [t for t in threading.enumerate() if t.name == "scrape-long"]
    assert len(loop) == 1
    c.stop()  # waits at most STOP_WAIT: the 100 s scrape must have been cut
    assert not loop[0].is_alive()
    wait_for(lambda: not fetch_threads("long"), timeout=10)


def test_stop_does_not_wait_for_a_scrape_no_shutdown_can_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = PrometheusCollector(
        PrometheusConfig("dns", "http://127.0.0.1:1/metrics", interval=120, timeout=100),
        RecordingStats(),
    )
    stuck = threading.Event()
    monkeypatch.setattr(c, "_fetch", lambda now: stuck.wait(60) and None)
    c.start(RecordingSink())
    try:
        wait_for(lambda: fetch_threads("dns"))
        loop = [t for t in threading.enumerate() if t.name == "scrape-dns"]
        c.stop()
        assert len(loop) == 1 and not loop[0].is_alive()
    finally:
        stuck.set()


def test_each_target_is_scraped_every_interval_on_its_own_thread() -> None:
    healthy = Healthy()
    sink = RecordingSink()
    c = PrometheusCollector(
        PrometheusConfig("app", healthy.url, interval=0.5, timeout=0.5), RecordingStats()
    )

    def ups() -> list[float]:
        with sink.lock:
            return [e.value for e in sink.events if isinstance(e, Sample) and e.name == "up"]

    c.start(sink)
    try:
        assert [t for t in threading.enumerate() if t.name == "scrape-app"]
        wait_for(lambda: len(ups()) >= 3, timeout=30)
    finally:
        c.stop()
        healthy.close()
    assert healthy.scrapes >= 3 and 1.0 in ups()


# --- the daemon: ten hung targets, a healthy one and host metrics ------------------------------


def counter(text: str, collector: str) -> float:
    prefix = f'alerter_events_total{{collector="{collector}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


def test_ten_hung_targets_stop_neither_the_healthy_one_nor_host_metrics(tmp_path: Path) -> None:
    hung = [Hung(MODES[i % len(MODES)]) for i in range(10)]
    healthy = Healthy()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    targets = "".join(
        f"  - {{name: hung{i}, type: prometheus, url: '{h.url}', interval: 1s, timeout: 500ms}}\n"
        for i, h in enumerate(hung)
    )
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: up\n    interval: 1s\n    rules:\n"
        "      - {alert: TargetDown, metric: up, aggregate: last, over: 5s, threshold: '== 0'}\n"
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"global: {{state_dir: state, evaluation_interval: 1s}}\n"
        f"server: {{listen: '127.0.0.1:{port}'}}\n"
        "rule_files: [rules.yaml]\n"
        "collectors:\n"
        f"{targets}"
        f"  - {{name: healthy, type: prometheus, url: '{healthy.url}', interval: 1s, timeout: 500ms}}\n"
        "  - {name: host, type: host, interval: 1s, systemd: false}\n"
    )
    with (tmp_path / "out.log").open("w") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alerter", "run", "-c", str(cfg), "--log-format", "json"],
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    try:

        def metrics() -> str | None:
            try:
                return requests.get(f"{base}/metrics", timeout=5).text
            except requests.ConnectionError:
                return None

        wait_for(metrics, timeout=60)
        # Each hung target is tried again every interval (each try ends at its timeout); at
        # every second round, the healthy target and host must have delivered again.
        last = None
        start = min(h.accepted for h in hung)
        for round_ in range(1, 4):

            def tried_again(r: int = round_) -> bool:
                return min(h.accepted for h in hung) >= start + 2 * r

            wait_for(tried_again, timeout=60)
            text = metrics()
            assert text is not None
            now = (counter(text, "healthy"), counter(text, "host"), healthy.scrapes)
            if last is not None:
                assert all(b > a for a, b in zip(last, now, strict=True)), (round_, last, now)
            last = now

        def down() -> set[str]:
            alerts = requests.get(f"{base}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            return {a["labels"]["job"] for a in alerts if a["labels"]["alertname"] == "TargetDown"}

        # `up 0` for every hung target, none for the healthy one.
        wait_for(lambda: down() == {f"hung{i}" for i in range(len(hung))}, timeout=60)
    finally:
        stop_process(proc, 20)
        for h in hung:
            h.close()
        healthy.close()
