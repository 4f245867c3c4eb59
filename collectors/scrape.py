"""Prometheus text exposition into Samples (shared by the prometheus and command collectors).

A sample line's optional timestamp (milliseconds since the epoch) is the sample's time, as
Prometheus honours it; one more than MAX_AHEAD ahead of the scrape is rejected (and counted):
a wrong clock on the target's side must not place samples where no window reaches yet.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_fd_to_metric_families

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


class _CountedLines:
    """The text's lines, counting those handed out: the parser fails on the line it read last."""

    def __init__(self, text: str) -> None:
        self._lines = io.StringIO(text)
        self.read = 0
        self.last = ""

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.read += 1
            self.last = line
            yield line


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
    lines = _CountedLines(text)
    fd: Any = lines  # (the parser only iterates over its "file")
    try:
        for family in text_fd_to_metric_families(fd):
            for s in family.samples:
                labels = dict(s.labels)
                if extra:
                    for k, v in extra.items():
                        labels.setdefault(k, v)
                series = (s.name, frozenset(labels.items()))
                if series in seen:  # a series twice in one scrape: the first, as Prometheus
                    continue
                seen.add(series)
                t = now if s.timestamp is None else float(s.timestamp)
                if not t <= latest:  # (NaN too)
                    future += 1
                    continue
                out.append(Sample(t, source, s.name, labels, float(s.value)))
    except (ValueError, TypeError, IndexError, KeyError) as e:
        why = str(e) or type(e).__name__
        raise ExpositionError(
            f"invalid exposition at line {lines.read}: {why} ({lines.last.strip()[:100]!r})",
            lines.read,
        ) from None
    return Exposition(out, future)
