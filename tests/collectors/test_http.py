"""The http probe against loopback servers: status, latency and body regex; a trickling or
never-handshaking server ends at one timeout with up 0; the days until a certificate expires
(negative once expired) read from the probe's own connection, none for an untrusted one."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import structlog.testing
import trustme

from alerter.collectors.http import HttpCollector, HttpConfig
from alerter.core.events import Sample
from alerter.testing import RecordingStats
from tests.collectors.conftest import NOW, Site, by_name, value
from tests.conftest import require


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
