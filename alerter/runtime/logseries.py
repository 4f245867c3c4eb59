"""The log-derived metrics (rules/logmetrics.py) on `/metrics`: a prometheus-client custom
collector that reads the running engine's series at each scrape, with the HELP text from the
rule files, plus `alerter_log_metric_series_evicted_total{metric}`.

A scrape runs in the API server's thread while the main loop updates the series: it reads a
copy of each metric's table (one C-level dict copy; a series is replaced whole when a batch
updates it, never changed in place), so it takes no lock and never holds up the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _go_float

from alerter.rules.logmetrics import Hist, LogMetrics

floatToGoString = cast(Callable[[float], str], _go_float)  # (untyped in prometheus_client)


class LogSeriesCollector(Collector):
    def __init__(self, current: Callable[[], LogMetrics | None]) -> None:
        self._current = current  # the running engine's log metrics (None before it runs)

    def describe(self) -> list[Metric]:
        return []  # (no collect() at register time: the engine is not there yet)

    def collect(self) -> Iterator[Metric]:
        lm = self._current()
        if lm is None:
            return
        evicted = CounterMetricFamily(
            "alerter_log_metric_series_evicted",
            "Series of a log-derived metric evicted past its max_series (least recently "
            "updated first)",
            labels=["metric"],
        )
        for st in lm.states:
            m, series = st.metric, st.series.copy()
            evicted.add_metric([m.name], st.evicted)
            names = list(m.by)
            if m.type == "counter":
                fam: Metric = CounterMetricFamily(m.name, m.help, labels=names)
            elif m.type == "gauge":
                fam = GaugeMetricFamily(m.name, m.help, labels=names)
            else:
                fam = HistogramMetricFamily(m.name, m.help, labels=names)
            les = [*(floatToGoString(b) for b in m.buckets), "+Inf"]
            for key, v in series.items():
                if isinstance(v, Hist):
                    assert isinstance(fam, HistogramMetricFamily)
                    fam.add_metric(list(key), list(zip(les, v.cumulative(), strict=True)), v.sum)
                else:
                    assert isinstance(fam, (CounterMetricFamily, GaugeMetricFamily))
                    fam.add_metric(list(key), v)
            yield fam
        yield evicted


def register(registry: CollectorRegistry, current: Callable[[], LogMetrics | None]) -> None:
    registry.register(LogSeriesCollector(current))
