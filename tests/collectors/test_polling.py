"""Polling collectors against real parts: a loopback HTTP(S) server, real commands, this host."""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
import trustme

from alerter.collectors.command import CommandCollector, CommandConfig
from alerter.collectors.host import HostCollector, HostConfig, parse_show
from alerter.collectors.http import HttpCollector, HttpConfig
from alerter.collectors.prometheus import PrometheusCollector, PrometheusConfig
from alerter.config.collectors import build_collector, parse_collector
from alerter.config.yamlsource import MapReader, Problems, load_yaml
from alerter.rules.events import LogBatch, Sample
from alerter.testing import FixedClock, MemoryPositions, RecordingStats
from tests.conftest import require

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


# --- prometheus ------------------------------------------------------------------------------


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


@pytest.mark.integration
@pytest.mark.parametrize("failure", ["status", "garbage", "too_large", "refused", "timeout"])
def test_a_failing_target_gives_up_0_not_an_exception(site: Site, failure: str) -> None:
    url, cfg = site.url + "/metrics", {}
    if failure == "status":
        site.status = 503
    elif failure == "garbage":
        site.body = b"this is { not an exposition\n"
    elif failure == "too_large":
        site.body = b"# big\n" * 1000
        cfg = {"max_bytes": 1024}
    elif failure == "refused":
        url = "http://127.0.0.1:1/metrics"
    elif failure == "timeout":
        site.delay.set()
        cfg = {"timeout": 0.2}
    stats = RecordingStats()
    samples = PrometheusCollector(PrometheusConfig("app", url, **cfg), stats).scrape(NOW)  # type: ignore[arg-type]
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


# --- http ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_http_probe_status_latency_and_body_regex(site: Site) -> None:
    site.body = b"status: healthy"
    ok = HttpCollector(
        HttpConfig("site", site.url, body_regex=r"healthy"), RecordingStats()
    ).collect(NOW)
    assert value(ok, "up") == 1.0 and value(ok, "http_status_code") == 200.0
    assert value(ok, "http_duration_seconds") >= 0 and "http_tls_cert_expiry_days" not in by_name(
        ok
    )
    bad_body = HttpCollector(HttpConfig("site", site.url, body_regex=r"^ok$"), RecordingStats())
    assert value(bad_body.collect(NOW), "up") == 0.0
    site.status = 503
    expected = HttpCollector(HttpConfig("site", site.url, expect_status=(503,)), RecordingStats())
    assert value(expected.collect(NOW), "up") == 1.0
    default = HttpCollector(HttpConfig("site", site.url), RecordingStats()).collect(NOW)
    assert value(default, "up") == 0.0 and value(default, "http_status_code") == 503.0
    refused = HttpCollector(HttpConfig("site", "http://127.0.0.1:1/"), RecordingStats()).collect(
        NOW
    )
    assert value(refused, "up") == 0.0 and value(refused, "http_status_code") == 0.0


@pytest.mark.integration
@pytest.mark.parametrize("behave", ["trickle_headers", "trickle_body"])
def test_http_probe_of_a_trickling_server_ends_at_its_timeout_with_up_0(behave: str) -> None:
    """A server sending a byte every 50 ms (each read well within any per-read timeout) used to
    hold a probe, and a worker of the shared polling pool, for ever."""
    from tests.alerter.notifiers import rawserver

    server = rawserver.RawServer(getattr(rawserver, behave))
    try:
        done: list[list[Sample]] = []
        probe = HttpCollector(
            HttpConfig("slow", server.url, timeout=0.5, body_regex="never"), RecordingStats()
        )
        t = threading.Thread(target=lambda: done.append(probe.collect(NOW)), daemon=True)
        t.start()
        t.join(30)  # a bound for a broken build, not the timing under test
        assert done, "the probe did not return"
        by_name = {s.name: s.value for s in done[0]}
        assert by_name["up"] == 0.0
        assert server.hung_up.wait(10)  # the connection was cut, not left trickling
    finally:
        server.stop()


@pytest.mark.integration  # runs the openssl program
def test_https_probe_reports_days_until_the_certificate_expires(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            require("openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "30",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s = Site(tls=ctx)
    try:
        import time

        samples = HttpCollector(
            HttpConfig("tls", s.url, ca_file=str(cert)), RecordingStats()
        ).collect(time.time())
        assert value(samples, "up") == 1.0
        assert 29.9 < value(samples, "http_tls_cert_expiry_days") <= 30.01
        untrusted = HttpCollector(HttpConfig("tls", s.url), RecordingStats()).collect(time.time())
        assert value(untrusted, "up") == 0.0  # not verified: down, and no expiry to report
        assert not [x for x in untrusted if x.name == "http_tls_cert_expiry_days"]
    finally:
        s.close()


def test_https_probe_reports_the_expiry_of_an_expired_certificate() -> None:
    """The verify failure of an expired certificate (up 0) no longer hides how long ago it
    expired: negative days, as blackbox_exporter's probe_ssl_earliest_cert_expiry tells."""
    ca = trustme.CA()
    real = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    not_after = real - datetime.timedelta(days=2)
    leaf = ca.issue_cert(
        "127.0.0.1", not_before=real - datetime.timedelta(days=10), not_after=not_after
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    s = Site(tls=ctx)
    try:
        with ca.cert_pem.tempfile() as ca_file:
            now = not_after.timestamp() + 2.5 * 86400
            samples = HttpCollector(HttpConfig("tls", s.url, ca_file=ca_file), RecordingStats())
            got = samples.collect(now)
        assert value(got, "up") == 0.0  # expired: not valid
        assert value(got, "http_tls_cert_expiry_days") == pytest.approx(-2.5)
    finally:
        s.close()


class FirstConnectionServer:
    """A TLS server on loopback that answers its first connection only: later ones are left in
    its listen backlog, connected but never handshaken (as a server slow to handshake, past
    any timeout), and counted by `unanswered` once the first is done."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self._ctx)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"https://127.0.0.1:{self._listener.getsockname()[1]}/"
        self._first = threading.Thread(target=self._answer_first, daemon=True)
        self._first.start()

    def _answer_first(self) -> None:
        conn, _ = self._listener.accept()
        with contextlib.suppress(OSError), self._ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def unanswered(self) -> int:
        self._first.join(10)  # a bound for a broken build, not the timing under test
        assert not self._first.is_alive()
        self._listener.setblocking(False)
        count = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                self._listener.accept()[0].close()
                count += 1
        return count

    def close(self) -> None:
        self._listener.close()


def test_https_probe_reads_the_certificate_of_its_own_connection() -> None:
    """The days came from a second connection and handshake, with what time the probe left:
    a server slow to handshake gave up 1 and no days (tls_check_failed)."""
    ca = trustme.CA()
    server = FirstConnectionServer(ca.issue_cert("127.0.0.1"))
    try:
        with ca.cert_pem.tempfile() as ca_file:
            probe = HttpCollector(
                HttpConfig("tls", server.url, timeout=0.5, ca_file=ca_file), RecordingStats()
            )
            with structlog.testing.capture_logs() as logs:
                got = probe.collect(NOW)
        assert value(got, "up") == 1.0
        days = value(got, "http_tls_cert_expiry_days")
        assert days > 300  # trustme's leaf certificates are valid for years from today
        assert server.unanswered() == 0  # one connection: the probe's
        assert not [e for e in logs if e["event"] == "tls_check_failed"]
    finally:
        server.close()


def test_https_probe_of_an_untrusted_certificate_opens_one_connection_and_tells_no_days() -> None:
    server = FirstConnectionServer(trustme.CA().issue_cert("127.0.0.1"))
    try:
        with trustme.CA().cert_pem.tempfile() as other_ca:
            got = HttpCollector(
                HttpConfig("tls", server.url, timeout=0.5, ca_file=other_ca), RecordingStats()
            ).collect(NOW)
        assert value(got, "up") == 0.0
        assert not [x for x in got if x.name == "http_tls_cert_expiry_days"]
        assert server.unanswered() == 0
    finally:
        server.close()


def test_https_probe_of_a_server_that_never_handshakes_is_bounded_by_one_timeout() -> None:
    """The certificate check shares the probe's deadline: after a probe that used the whole
    timeout it opens no connection of its own (which took another timeout to connect and
    another for the handshake)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)  # never accepts: no TLS
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        probe = HttpCollector(HttpConfig("hang", url, timeout=0.5), RecordingStats())
        done: list[list[Sample]] = []
        t = threading.Thread(target=lambda: done.append(probe.collect(NOW)), daemon=True)
        t.start()
        t.join(30)  # a bound for a broken build, not the timing under test
        assert done, "the probe did not return"
        assert value(done[0], "up") == 0.0
        assert not [x for x in done[0] if x.name == "http_tls_cert_expiry_days"]
        listener.setblocking(False)
        connections = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                listener.accept()[0].close()
                connections += 1
        assert connections == 1  # the probe's own, and no second phase after its deadline
    finally:
        listener.close()


# --- command ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_command_exit_code_duration_and_prometheus_output() -> None:
    script = "print('# TYPE backups gauge'); print('backups_ok 1'); raise SystemExit(3)"
    c = CommandCollector(
        CommandConfig("backup", (sys.executable, "-c", script), output="prometheus"),
        RecordingStats(),
    )
    samples = c.collect(NOW)
    assert value(samples, "command_exit_code", job="backup") == 3.0
    assert value(samples, "backups_ok", job="backup") == 1.0
    assert value(samples, "up") == 1.0 and value(samples, "command_timed_out") == 0.0


@pytest.mark.integration
def test_command_arguments_never_reach_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    c = CommandCollector(CommandConfig("c", ("/bin/echo", f"; touch {marker}")), RecordingStats())
    assert value(c.collect(NOW), "command_exit_code") == 0.0
    assert not marker.exists()


@pytest.mark.integration
def test_a_command_whose_child_left_its_group_ends_at_its_timeout(tmp_path: Path) -> None:
    # `setsid sleep 60 &` holds the output pipe after the command is killed: reading it to its
    # end held the collector (and a scheduler worker) for the whole minute
    pidfile = tmp_path / "escaped.pid"
    script = f"setsid sleep 60 & echo $! > {pidfile}; sleep 60"
    c = CommandCollector(
        CommandConfig("c", ("/bin/sh", "-c", script), timeout=0.5), RecordingStats()
    )
    done: list[list[Sample]] = []
    t = threading.Thread(target=lambda: done.append(c.collect(NOW)), daemon=True)
    t.start()
    try:
        t.join(20)
        assert done, "collect() still waiting on the escaped child's pipe"
        assert [s.value for s in done[0] if s.name == "command_timed_out"] == [1.0]
    finally:
        with contextlib.suppress(ValueError, OSError):  # the child we made escape: ours to end
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.integration
def test_command_output_past_the_cap_is_not_read_and_the_command_is_killed(
    tmp_path: Path,
) -> None:
    """A command that spews (64 MiB here, GBs in the field) is read to MAX_OUTPUT + 1 bytes
    at most, then killed: not read whole (nor until its timeout) before the cap applies."""
    pidfile = tmp_path / "spew.pid"
    script = (
        "import os, sys, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "line = b'x 1\\n' * 16384\n"
        "for _ in range(1024): sys.stdout.buffer.write(line)\n"
        "sys.stdout.flush(); time.sleep(60)\n"
    )
    stats = RecordingStats()
    c = CommandCollector(
        CommandConfig("c", (sys.executable, "-c", script), timeout=60, output="prometheus"), stats
    )
    done: list[list[Sample]] = []
    t = threading.Thread(target=lambda: done.append(c.collect(NOW)), daemon=True)
    t.start()
    try:
        t.join(30)
        assert done, "collect() still reading the command's output"
        samples = done[0]
        assert value(samples, "up") == 0.0 and value(samples, "command_timed_out") == 0.0
        assert value(samples, "command_exit_code") == -9.0  # SIGKILL's, as the README says
        assert not [s for s in samples if s.name == "x"]  # no part of a cut output is read
        assert stats.drops[("c", "output_too_large")] == 1
        with pytest.raises(ProcessLookupError):
            os.kill(int(pidfile.read_text()), 0)  # killed (and reaped), not left writing
    finally:
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.integration
def test_unparsable_command_output_gives_up_0_and_a_parse_error_with_its_line() -> None:
    script = "print('ok_total 1'); print('# TYPE t gauge'); print('t{a=\"1\" 2')"
    stats = RecordingStats()
    c = CommandCollector(
        CommandConfig("c", (sys.executable, "-c", script), output="prometheus"), stats
    )
    with structlog.testing.capture_logs() as logs:
        samples = c.collect(NOW)
    assert value(samples, "up") == 0.0 and stats.ups["c"] is False
    assert value(samples, "command_exit_code") == 0.0  # it ran: its output is what failed
    assert not [s for s in samples if s.name.startswith("ok")]  # nothing of a failed parse
    assert stats.drops[("c", "parse_error")] == 1
    [event] = [e for e in logs if e["event"] == "command_output_invalid"]
    assert event["line"] == 3


def test_command_timeout_and_missing_program_are_samples_not_exceptions() -> None:
    stats = RecordingStats()
    slow = CommandCollector(CommandConfig("c", ("/bin/sleep", "30"), timeout=0.2), stats).collect(
        NOW
    )
    assert value(slow, "command_timed_out") == 1.0 and value(slow, "up") == 0.0
    assert value(slow, "command_exit_code") == -1.0 and stats.ups["c"] is False
    missing = CommandCollector(CommandConfig("c", ("/nonexistent/x",)), stats).collect(NOW)
    assert value(missing, "up") == 0.0 and value(missing, "command_exit_code") == -1.0


# --- host ------------------------------------------------------------------------------------


def test_host_metrics_in_base_units_and_cpu_has_a_real_first_reading() -> None:
    c = HostCollector(HostConfig("host", systemd=False), RecordingStats())
    import time

    start = time.process_time()
    while time.process_time() < start + 0.1:  # some busy CPU time before the first reading
        pass
    samples = c.collect(NOW)
    names = by_name(samples)
    total = value(samples, "host_cpu_usage_ratio", cpu="total")
    assert 0.0 < total <= 1.0  # not psutil's first-call 0.0
    assert (
        value(samples, "host_memory_total_bytes")
        > value(samples, "host_memory_available_bytes")
        > 0
    )
    assert 0.0 <= value(samples, "host_memory_usage_ratio") <= 1.0
    assert {
        "host_load1",
        "host_load5",
        "host_load15",
        "host_processes",
        "host_swap_usage_ratio",
    } <= set(names)
    root = [s for s in names["host_filesystem_used_ratio"] if s.labels["mountpoint"] == "/"]
    assert root and 0.0 <= root[0].value <= 1.0
    assert not any(
        s.labels["fstype"] in ("proc", "sysfs", "cgroup2")
        for s in names["host_filesystem_size_bytes"]
    )
    assert all(math.isfinite(s.value) and s.source == "host" for s in samples)
    assert "host_systemd_unit_active" not in names


def test_systemctl_show_blocks_are_parsed() -> None:
    text = "Id=a.service\nActiveState=active\nNRestarts=2\n\nId=b.service\nActiveState=failed\nNRestarts=0\n"
    assert parse_show(text) == [
        {"Id": "a.service", "ActiveState": "active", "NRestarts": "2"},
        {"Id": "b.service", "ActiveState": "failed", "NRestarts": "0"},
    ]


@pytest.mark.integration
def test_systemd_unit_states_and_restarts_in_a_real_systemd(systemd_sandbox: Any) -> None:
    sb = systemd_sandbox
    sb.write_unit("hc-up.service", "[Service]\nExecStart=/bin/sleep 300\n")
    sb.write_unit("hc-down.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
    sb.systemctl("start", "hc-up.service")
    sb.systemctl("start", "hc-down.service", check=False)
    c = HostCollector(
        HostConfig("host", systemd=True, systemctl=sb.command("systemctl")),
        RecordingStats(),
    )
    samples = c.collect(NOW)
    assert value(samples, "host_systemd_unit_active", unit="hc-up.service") == 1.0
    assert value(samples, "host_systemd_unit_active", unit="hc-down.service") == 0.0
    assert value(samples, "host_systemd_unit_restarts_total", unit="hc-up.service") == 0.0
    only = HostCollector(
        HostConfig(
            "host",
            systemd=True,
            units=("hc-up.service",),
            systemctl=sb.command("systemctl"),
        ),
        RecordingStats(),
    ).collect(NOW)
    assert [s.labels["unit"] for s in only if s.name == "host_systemd_unit_active"] == [
        "hc-up.service"
    ]


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
def test_command_output_with_timestamps_in_seconds_is_rejected_as_too_old() -> None:
    script = f"print('backup_failed 1 {int(NOW)}')"
    stats = RecordingStats()
    c = CommandCollector(
        CommandConfig("c", (sys.executable, "-c", script), output="prometheus"), stats
    )
    with structlog.testing.capture_logs() as logs:
        samples = c.collect(NOW)
    assert "backup_failed" not in {s.name for s in samples}
    assert stats.drops[("c", "too_old")] == 1
    [event] = [e for e in logs if e["event"] == "samples_rejected"]
    assert event["series"] == "backup_failed" and "seconds" in event["hint"]
