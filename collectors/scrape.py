"""Prometheus text exposition into Samples (shared by the prometheus and command collectors).

A sample line's optional timestamp (milliseconds since the epoch) is the sample's time, as
Prometheus honours it; one more than MAX_AHEAD ahead of the scrape is rejected (and counted):
a wrong clock on the target's side must not place samples where no window reaches yet. One
more than MAX_AGE older than the scrape is rejected too, as Prometheus rejects a sample before
its head's appendable range (out of bounds): placed where no window reaches, its series would
be silently invisible to every rule, as a script writing `date +%s` (seconds, read as
milliseconds: January 1970) made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from alerter.collectors.base import CollectorStats
from alerter.collectors.promtext import parse_line
from alerter.core.events import Sample

MAX_AHEAD = 300.0  # seconds a sample's timestamp may be ahead of the scrape (as log lines')
FUTURE = "future_timestamp"  # the dropped-events reason of the samples rejected for it
MAX_AGE = 3600.0  # seconds a sample's timestamp may be older than the scrape (Prometheus' head)
TOO_OLD = "too_old"  # the dropped-events reason of the samples rejected for it
SECONDS_NEAR = 86400.0  # a timestamp x 1000 this near the scrape was likely written in seconds


@dataclass(frozen=True, slots=True)
class Rejected:
    """A sample rejected for its timestamp: its series' name and the time it gave."""

    name: str
    time: float


@dataclass(frozen=True, slots=True)
class Exposition:
    samples: list[Sample]
    future: int  # samples rejected: their timestamp was more than MAX_AHEAD ahead
    too_old: int  # samples rejected: their timestamp was more than MAX_AGE before the scrape
    first_too_old: Rejected | None  # the first of those, for the log


class ExpositionError(ValueError):
    """Text that is not a Prometheus exposition; `line` is the 1-based number of the line
    that failed (0 when unknown)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def parse_exposition(
    text: str, source: str, now: float, extra: Mapping[str, str] | None = None
) -> Exposition:
    """Samples of a Prometheus text exposition scraped at `now`. `extra` labels are added
    unless the series has a label of that name already; a series given twice keeps its first
    sample (a second one would read as a counter reset). Raises ExpositionError (a
    ValueError) on malformed text: the whole exposition fails, as a Prometheus scrape does."""
    out: list[Sample] = []
    future = too_old = 0
    first_too_old: Rejected | None = None
    latest = now + MAX_AHEAD
    earliest = now - MAX_AGE
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for number, line in enumerate(text.split("\n"), 1):
        try:
            got = parse_line(line)
        except ValueError as e:
            raise ExpositionError(
                f"invalid exposition at line {number}: {e} ({line.strip()[:100]!r})", number
            ) from None
        if got is None:
            continue
        labels = got.labels  # (the parser's own dict, used once)
        if extra:
            for k, v in extra.items():
                labels.setdefault(k, v)
        series = (got.name, frozenset(labels.items()))
        if series in seen:  # a series twice in one scrape: the first, as Prometheus
            continue
        seen.add(series)
        t = now if got.timestamp is None else got.timestamp
        if not t <= latest:
            future += 1
            continue
        if t < earliest:
            too_old += 1
            if first_too_old is None:
                first_too_old = Rejected(got.name, t)
            continue
        out.append(Sample(t, source, got.name, labels, got.value))
    return Exposition(out, future, too_old, first_too_old)


def report_rejected(
    got: Exposition, now: float, collector: str, stats: CollectorStats, log: structlog.BoundLogger
) -> None:
    """Count the samples `got` rejected for their timestamps as dropped (reason
    `future_timestamp` or `too_old`) and log each reason once for the scrape at `now`; for
    those too old, the first one's series and time, and a hint when its timestamp was
    likely written in seconds."""
    if got.future:
        stats.dropped(collector, FUTURE, got.future)
        log.warning("samples_rejected", reason=FUTURE, count=got.future)
    old = got.first_too_old
    if got.too_old and old is not None:
        stats.dropped(collector, TOO_OLD, got.too_old)
        said: dict[str, str] = {}
        if abs(old.time * 1000.0 - now) < SECONDS_NEAR:
            said["hint"] = (
                "exposition timestamps are milliseconds since the epoch: "
                "this one, read as seconds, would be within a day of now"
            )
        log.warning(
            "samples_rejected",
            reason=TOO_OLD,
            count=got.too_old,
            series=old.name,
            time=datetime.fromtimestamp(old.time, UTC).isoformat(),
            max_age_s=MAX_AGE,
            **said,
        )
