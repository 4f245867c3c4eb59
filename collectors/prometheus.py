"""Scrape a Prometheus /metrics endpoint into Samples, as Prometheus would.

Every scraped series gets `job` (the collector name) and `instance` (host:port) unless it has
them. Each scrape also gives `up` (1/0), `scrape_duration_seconds` and `scrape_samples_scraped`.
A failing target (refused, timeout, HTTP error, body over `max_bytes`, unparsable) gives `up 0`,
never an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import structlog

from collectors.base import CollectorStats
from collectors.events import Sample
from collectors.scrape import parse_exposition

log = structlog.get_logger(__name__)

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # never the protobuf or OpenMetrics formats


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    name: str
    url: str
    interval: float = 15.0
    timeout: float = 5.0
    max_bytes: int = 10 * 1024 * 1024
    headers: dict[str, str] = field(default_factory=dict)


class BodyTooLarge(Exception):
    pass


def read_capped(resp: requests.Response, max_bytes: int) -> bytes:
    """The body, or BodyTooLarge once it passes `max_bytes` (read no further)."""
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise BodyTooLarge(f"Content-Length {length} > max_bytes {max_bytes}")
    chunks, size = [], 0
    for chunk in resp.iter_content(65536):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"body larger than max_bytes {max_bytes}")
        chunks.append(chunk)
    return b"".join(chunks)


class PrometheusCollector:
    def __init__(self, cfg: PrometheusConfig, stats: CollectorStats) -> None:
        self.name = cfg.name
        self.interval = cfg.interval
        self.cfg = cfg
        self._stats = stats
        self._session = requests.Session()
        self._session.headers.update({"Accept": ACCEPT, **cfg.headers})
        parts = urlsplit(cfg.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._target = {"job": cfg.name, "instance": f"{parts.hostname}:{port}"}
        self._log = log.bind(collector=cfg.name, url=cfg.url)

    def collect(self, now: float) -> list[Sample]:
        t0 = time.monotonic()
        samples: list[Sample] = []
        try:
            with self._session.get(self.cfg.url, timeout=self.cfg.timeout, stream=True) as resp:
                resp.raise_for_status()
                body = read_capped(resp, self.cfg.max_bytes)
            samples = parse_exposition(
                body.decode("utf-8", "replace"), self.name, now, self._target
            )
            up = 1.0
        except (requests.RequestException, BodyTooLarge, ValueError) as e:
            self._log.warning("scrape_failed", error=str(e)[:300])
            up = 0.0
        duration = time.monotonic() - t0
        self._stats.up(self.name, up == 1.0)
        for name, value in (
            ("up", up),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", float(len(samples))),
        ):
            samples.append(Sample(now, self.name, name, dict(self._target), value))
        return samples

    def close(self) -> None:
        self._session.close()
