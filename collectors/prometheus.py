"""Scrape a Prometheus /metrics endpoint into Samples, as Prometheus would.

Every scraped series gets `job` (the collector name) and `instance` (host:port) unless it has
them. Each scrape also gives `up` (1/0), `scrape_duration_seconds` and `scrape_samples_scraped`.
A failing target (refused, timeout, HTTP error, body over `max_bytes`, unparsable) gives `up 0`,
never an exception; an unparsable body is also counted as dropped with reason="parse_error" and
logged with the number of the line that failed. A sample's own timestamp is its time; one
more than 5 minutes ahead is rejected, counted as dropped with reason="future_timestamp", and
one more than an hour older than the scrape with reason="too_old" (logged with its series).

Each target is scraped on its own thread, every `interval`, never in the daemon's shared pool:
a target that hangs delays no other target and no other collector. A scrape ends `timeout`
after it started whatever the target does (headers or body sent a byte at a time included):
its socket is shut down then (`alerter.collectors.httpdeadline`) and it gives `up 0`. At most one scrape
per target runs at a time: when one is still running as the next is due (a hang the shutdown
cannot end, such as a DNS lookup), that interval is skipped, counted as dropped with
reason="scrape_skipped", and gives `up 0`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import structlog

from alerter.collectors import httpdeadline
from alerter.collectors.base import CollectorStats, Sink
from alerter.collectors.httpdeadline import BodyTooLarge, DeadlineExceeded, read_capped
from alerter.collectors.scrape import ExpositionError, parse_exposition, report_rejected
from alerter.core.events import Sample

__all__ = ["BodyTooLarge", "PrometheusCollector", "PrometheusConfig", "read_capped"]

log = structlog.get_logger(__name__)

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # never the protobuf or OpenMetrics formats
SKIPPED = "scrape_skipped"
JOIN_GRACE = 0.5  # a scrape not back this long after its deadline is left running
STOP_WAIT = 1.0  # stop() waits this long at most for the target's thread (on the main loop)


SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    name: str
    url: str
    interval: float = 15.0
    timeout: float = 5.0
    max_bytes: int = 10 * 1024 * 1024
    headers: dict[str, str] = field(default_factory=dict)


class PrometheusCollector:
    """One target. `start(sink)` scrapes every `interval` on its own thread; `scrape(now)` is
    one scrape, returning within `timeout` (plus a little) whatever the target does."""

    def __init__(
        self,
        cfg: PrometheusConfig,
        stats: CollectorStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._stats = stats
        self._clock = clock
        self._session = self._new_session()
        parts = urlsplit(cfg.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._target = {"job": cfg.name, "instance": f"{parts.hostname}:{port}"}
        self._log = log.bind(collector=cfg.name, url=cfg.url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: threading.Thread | None = None  # a scrape left running past its deadline
        self._deadline: httpdeadline.Deadline | None = None  # the scrape in flight's
        self._finished = threading.Event()  # set when the scrape in flight has ended

    def _new_session(self) -> requests.Session:
        s = httpdeadline.session()
        s.headers.update({"Accept": ACCEPT, **self.cfg.headers})
        return s

    # --- the target's own thread -------------------------------------------------------------

    def start(self, sink: Sink) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(sink,), name=f"scrape-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop scraping: a scrape in flight is cut short; waits at most STOP_WAIT."""
        self._stop.set()
        deadline = self._deadline
        if deadline is not None:
            deadline.abort()
        self._finished.set()  # a scrape that the abort cannot end is not waited for
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(STOP_WAIT)
        self._thread = None

    def _loop(self, sink: Sink) -> None:
        try:
            self._scrape_every_interval(sink)
        finally:
            self._session.close()

    def _scrape_every_interval(self, sink: Sink) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            samples = self.scrape(self._clock())
            if self._stop.is_set() or not sink.put_samples(samples):
                return
            due += self.cfg.interval
            late = time.monotonic() - due
            if late > 0:  # the scrape (or a full bus) took past the next one's time
                missed = int(late // self.cfg.interval) + 1
                self._stats.dropped(self.name, SKIPPED, missed)
                self._log.warning("scrape_skipped", intervals=missed)
                due += missed * self.cfg.interval
            self._stop.wait(max(0.0, due - time.monotonic()))

    # --- one scrape --------------------------------------------------------------------------

    def scrape(self, now: float) -> list[Sample]:
        """One scrape: the target's samples and `up 1`, or `up 0` by `timeout` at the latest."""
        t0 = time.monotonic()
        running = self._running
        if running is not None and running.is_alive():
            self._stats.dropped(self.name, SKIPPED)
            self._log.warning("scrape_skipped", reason="previous scrape still running")
            return self._finish([], now, up=False, duration=time.monotonic() - t0)
        result: list[list[Sample] | None] = []
        finished = self._finished = threading.Event()  # stop() sets it too

        def fetch() -> None:
            result.append(self._fetch(now))
            finished.set()

        worker = threading.Thread(target=fetch, name=f"scrape-{self.name}-get", daemon=True)
        worker.start()
        finished.wait(self.cfg.timeout + JOIN_GRACE)
        if not result:  # not ended by the deadline's shutdown (or stopping): leave it running
            self._running = worker
            self._log.warning("scrape_failed", error="timed out, still running")
            return self._finish([], now, up=False, duration=time.monotonic() - t0)
        self._running = None
        samples = result[0] if result else None
        duration = time.monotonic() - t0
        return self._finish(samples or [], now, up=samples is not None, duration=duration)

    def _fetch(self, now: float) -> list[Sample] | None:
        """The target's samples, or None when the scrape failed (logged)."""
        try:
            with httpdeadline.within(self.cfg.timeout) as deadline:
                self._deadline = deadline
                if self._stop.is_set():
                    deadline.abort()
                left = max(0.001, deadline.remaining())
                with (
                    httpdeadline.cut_by(deadline),
                    self._session.get(self.cfg.url, timeout=(left, left), stream=True) as resp,
                ):
                    resp.raise_for_status()
                    body = read_capped(resp, self.cfg.max_bytes, deadline)
            got = parse_exposition(body.decode("utf-8", "replace"), self.name, now, self._target)
            report_rejected(got, now, self.name, self._stats, self._log)
            return got.samples
        except DeadlineExceeded:
            self._log.warning("scrape_failed", error=f"timed out after {self.cfg.timeout:g}s")
            self._session.close()  # its connection was shut down: start afresh
            self._session = self._new_session()
        except ExpositionError as e:
            self._stats.dropped(self.name, "parse_error")
            self._log.warning("scrape_failed", line=e.line, error=str(e)[:300])
        except (requests.RequestException, OSError, BodyTooLarge, ValueError) as e:
            self._log.warning("scrape_failed", error=str(e)[:300])
        return None

    def _finish(self, samples: list[Sample], now: float, up: bool, duration: float) -> list[Sample]:
        self._stats.up(self.name, up)
        # the target's own `up` (or scrape_*) under the same labels would be read as this one
        samples = [x for x in samples if not (x.name in SYNTHETIC and x.labels == self._target)]
        for name, value in (
            ("up", 1.0 if up else 0.0),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", float(len(samples))),
        ):
            samples.append(Sample(now, self.name, name, dict(self._target), value))
        return samples

    def close(self) -> None:
        self.stop()
