"""Probe a URL on an interval, as blackbox_exporter's http module does.

Samples (labels `url`): `up` (1 when the response came with an expected status and, if set, a
body matching `body_regex`), `http_status_code` (0 without a response), `http_duration_seconds`,
and for https URLs `http_tls_cert_expiry_days` (days until the server certificate's notAfter;
negative once it has expired, as long as the certificate verifies but for its dates). The whole
probe, the certificate check included, ends by `timeout`.

The certificate is the one the probe's own connection verified: one connection, one handshake
(a second one, with what time the first left, lost the days of a server slow to handshake).
Only when that handshake failed on the certificate's dates (expired, or not yet valid) is a
second connection opened, its chain and host name verified but not its dates, to tell them.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog

from alerter.collectors import httpdeadline
from alerter.collectors.base import CollectorStats
from alerter.collectors.httpdeadline import BodyTooLarge, DeadlineExceeded, read_capped
from alerter.core.events import Sample
from alerter.core.saferegex import compile_pattern

log = structlog.get_logger(__name__)

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (1.1.0+; the ssl module names no constant for it)
NO_CHECK_TIME = 0x200000
# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED
DATE_ERRORS = frozenset({9, 10})


@dataclass(frozen=True, slots=True)
class HttpConfig:
    name: str
    url: str
    interval: float = 30.0
    timeout: float = 5.0
    method: str = "GET"
    expect_status: tuple[int, ...] = ()  # () = any 2xx
    body_regex: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ca_file: str | None = None  # extra CA bundle for verifying the server (self-signed sites)
    max_bytes: int = 1024 * 1024


class HttpCollector:
    def __init__(self, cfg: HttpConfig, stats: CollectorStats) -> None:
        self.name = cfg.name
        self.interval = cfg.interval
        self.cfg = cfg
        self._stats = stats
        self._session = self._new_session()
        self._body_rx = compile_pattern(cfg.body_regex) if cfg.body_regex else None  # linear
        self._labels = {"url": cfg.url}
        self._https = urlsplit(cfg.url).scheme == "https"
        self._log = log.bind(collector=cfg.name, url=cfg.url)

    def collect(self, now: float) -> list[Sample]:
        t0 = time.monotonic()
        status, ok, days, refused_dates = 0, False, None, False
        # one deadline for the whole probe, the certificate check included
        with httpdeadline.within(self.cfg.timeout) as deadline:
            try:
                status, ok, cert = self._probe(deadline)
                if self._https:
                    days = self._days_left(cert, now)
            except DeadlineExceeded:
                status, ok = 0, False
                self._log.warning("probe_failed", error=f"timed out after {self.cfg.timeout:g}s")
                self._session.close()  # its connection was shut down: start afresh
                self._session = self._new_session()
            except requests.exceptions.SSLError as e:
                self._log.warning("probe_failed", error=str(e)[:300])
                refused_dates = failed_on_dates(e)
            except (requests.RequestException, OSError, BodyTooLarge) as e:
                self._log.warning("probe_failed", error=str(e)[:300])
            duration = time.monotonic() - t0
            if refused_dates:  # (the only handshake failure that still tells the days)
                days = self._expired_cert_days(now, deadline)
        if not ok and status:
            self._log.info("probe_unexpected", status=status)
        self._stats.up(self.name, ok)
        samples = [
            Sample(now, self.name, "up", self._labels, 1.0 if ok else 0.0),
            Sample(now, self.name, "http_status_code", self._labels, float(status)),
            Sample(now, self.name, "http_duration_seconds", self._labels, duration),
        ]
        if days is not None:
            samples.append(Sample(now, self.name, "http_tls_cert_expiry_days", self._labels, days))
        return samples

    def _new_session(self) -> requests.Session:
        s = httpdeadline.session()
        s.headers.update(self.cfg.headers)
        return s

    def _probe(self, deadline: httpdeadline.Deadline) -> tuple[int, bool, dict[str, Any] | None]:
        """The status, whether it is as expected (and the body matches) and the certificate
        the connection verified (https), all by the deadline whatever the server does (a
        trickled answer is cut: DeadlineExceeded)."""
        with httpdeadline.cut_by(deadline):
            left = max(0.001, deadline.remaining())
            with self._session.request(
                self.cfg.method,
                self.cfg.url,
                timeout=(left, left),
                stream=True,
                verify=self.cfg.ca_file or True,
            ) as resp:
                cert = httpdeadline.peer_certificate(resp)  # (before the body gives it back)
                status = resp.status_code
                ok = (
                    status in self.cfg.expect_status
                    if self.cfg.expect_status
                    else 200 <= status < 300
                )
                if ok and self._body_rx is not None:
                    body = read_capped(resp, self.cfg.max_bytes, deadline)
                    ok = self._body_rx.search(body.decode("utf-8", "replace")) is not None
                deadline.check()
        return status, ok, cert

    def _days_left(self, cert: dict[str, Any] | None, now: float) -> float | None:
        """Days until `cert` (the probe's connection's) expires."""
        not_after = cert.get("notAfter") if cert else None
        try:
            if not isinstance(not_after, str):
                raise ValueError("no certificate from the connection")
            return (ssl.cert_time_to_seconds(not_after) - now) / 86400.0
        except ValueError as e:
            self._log.warning("tls_check_failed", error=str(e)[:300])
            return None

    def _expired_cert_days(self, now: float, deadline: httpdeadline.Deadline) -> float | None:
        """Days until the certificate the server presents expires, negative once it has,
        from a connection of its own, for a certificate the probe's handshake refused for its
        dates (None if it cannot be read by the deadline, or does not verify but for its
        dates)."""
        if deadline.passed():
            return None
        parts = urlsplit(self.cfg.url)
        host, port = parts.hostname or "", parts.port or 443
        ctx = ssl.create_default_context(cafile=self.cfg.ca_file)
        # chain and host name verified, the dates not: an expired certificate still tells
        # when it expired (its verify failure made the probe itself down)
        ctx.verify_flags |= NO_CHECK_TIME
        try:
            with socket.create_connection((host, port), timeout=deadline.remaining()) as sock:
                deadline.watch(sock)  # (cut at the deadline, the handshake included)
                sock.settimeout(max(0.001, deadline.remaining()))
                with ctx.wrap_socket(sock, server_hostname=host) as tls:
                    cert = tls.getpeercert()
        except (OSError, ssl.SSLError, ValueError) as e:
            self._log.warning("tls_check_failed", error=str(e)[:300])
            return None
        return self._days_left(cert, now)

    def close(self) -> None:
        self._session.close()


def failed_on_dates(e: BaseException) -> bool:
    """Whether `e` (requests' error, wrapping urllib3's, wrapping ssl's) is a handshake's
    verify failure on a certificate's dates."""
    seen: set[int] = set()
    todo = [e]
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, ssl.SSLCertVerificationError):
            return x.verify_code in DATE_ERRORS
        linked = (x.__cause__, x.__context__, getattr(x, "reason", None), *x.args)
        todo.extend(y for y in linked if isinstance(y, BaseException))
    return False
