"""Prometheus text exposition into Samples (shared by the prometheus and command collectors)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from alerter.rules.events import Sample


def parse_exposition(
    text: str, source: str, now: float, extra: Mapping[str, str] | None = None
) -> list[Sample]:
    """Samples of a Prometheus text exposition. `extra` labels are added unless the series has
    a label of that name already; a series given twice keeps its first sample (a second one
    would read as a counter reset). Raises ValueError on malformed text."""
    out: list[Sample] = []
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    try:
        for family in text_string_to_metric_families(text):
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
        raise ValueError(f"invalid exposition: {e}") from None
    return out
