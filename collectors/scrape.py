"""Prometheus text exposition into Samples (shared by the prometheus and command collectors)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.parser import text_fd_to_metric_families

from alerter.rules.events import Sample


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
) -> list[Sample]:
    """Samples of a Prometheus text exposition. `extra` labels are added unless the series has
    a label of that name already; a series given twice keeps its first sample (a second one
    would read as a counter reset). Raises ExpositionError (a ValueError) on malformed text:
    the whole exposition fails, as a Prometheus scrape does."""
    out: list[Sample] = []
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
                out.append(Sample(now, source, s.name, labels, float(s.value)))
    except (ValueError, TypeError, IndexError, KeyError) as e:
        why = str(e) or type(e).__name__
        raise ExpositionError(
            f"invalid exposition at line {lines.read}: {why} ({lines.last.strip()[:100]!r})",
            lines.read,
        ) from None
    return out
