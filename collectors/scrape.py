"""Prometheus text exposition into Samples (shared by the prometheus and command collectors).

A sample line's optional timestamp (milliseconds since the epoch) is the sample's time, as
Prometheus honours it; one more than MAX_AHEAD ahead of the scrape is rejected (and counted):
a wrong clock on the target's side must not place samples where no window reaches yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerter.collectors.promtext import parse_line
from alerter.rules.events import Sample

MAX_AHEAD = 300.0  # seconds a sample's timestamp may be ahead of the scrape (as log lines')
FUTURE = "future_timestamp"  # the dropped-events reason of the samples rejected for it


@dataclass(frozen=True, slots=True)
class Exposition:
    samples: list[Sample]
    future: int  # samples rejected: their timestamp was more than MAX_AHEAD ahead


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
    future = 0
    latest = now + MAX_AHEAD
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
        out.append(Sample(t, source, got.name, labels, got.value))
    return Exposition(out, future)
