"""Log-derived metrics' bulk passes in the scan helper (rules/metricbulk.py): run there beside
the rules' passes (sharing their findall), their summaries give the series the engine gives
alone; a summary that does not come back, or does not fit, costs in-process work only."""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alerter.core.events import LogBatch
from alerter.rules.bulk import EMPTY_VALUE, NO_MATCH
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.logmetrics import Hist
from alerter.rules.metricbulk import MetricDelta, Spec, run_pass
from alerter.runtime.scanworker import Garbled, ScanWorker, _plain_loads, _summary, _to_wire

ACCESS = r'\] "(?P<method>[A-Z]+) [^"]*" (?P<status>\d{3}) (?P<bytes>[0-9a-z.]+) '

RULES = rf"""
groups:
  - name: g
    rules:
      - alert: Many5xx
        logs: {{match: '{ACCESS}'}}
        aggregate: count
        over: 5m
        threshold: "> 1000000"
    metrics:
      - {{name: req_total, type: counter, by: [status], logs: {{match: '{ACCESS}'}}}}
      - {{name: req_method_status_total, type: counter, by: [method, status],
         logs: {{match: '{ACCESS}'}}}}
      - {{name: bytes_total, type: counter, field: bytes, logs: {{match: '{ACCESS}'}}}}
      - {{name: bytes_by_status_total, type: counter, field: bytes, by: [status],
         logs: {{match: '{ACCESS}'}}}}
      - {{name: bytes_hist, type: histogram, field: bytes, buckets: [10, 100],
         logs: {{match: '{ACCESS}'}}}}
      - {{name: bytes_by_method, type: histogram, field: bytes, by: [method], buckets: [50],
         logs: {{match: '{ACCESS}'}}}}
      - {{name: last_bytes, type: gauge, field: bytes, logs: {{match: '{ACCESS}'}}}}
      - {{name: last_bytes_by_status, type: gauge, field: bytes, by: [status],
         logs: {{match: '{ACCESS}'}}}}
      - {{name: failed_total, type: counter, by: [user], max_series: 3,
         logs: {{match: 'Failed password for (?P<user>\S+) from'}}}}
      - {{name: filtered_total, type: counter, by: [status],
         logs: {{match: '{ACCESS}', exclude: 'DELETE'}}}}
"""


def random_lines(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        size = rnd.choice(
            ["5", "50", "500", "7.5", "-3", "abc", "nan"]
            if rnd.random() < 0.1
            else ["1", "20", "300"]
        )
        out.append(
            rnd.choice(
                [
                    f'1.2.3.4 - - [x] "{rnd.choice(["GET", "POST", "DELETE"])} /a HTTP/1.1" '
                    f'{rnd.choice(["200", "404", "503"])} {size} "-"',
                    f"sshd[1]: Failed password for u{rnd.randrange(6)} from 10.0.0.1 port 22",
                    "unrelated line",
                ]
            )
        )
    return out


def engine(offload: Any = None) -> Engine:
    return Engine(load_rule_files([("t.yaml", RULES)], default_interval=15), {}, offload=offload)


def table(e: Engine) -> dict[str, list[tuple[tuple[str, ...], float | Hist]]]:
    """Every metric's series in order (the order says which are evicted next)."""
    return {s.metric.name: list(s.series.items()) for s in e.log_metrics.states}


def feed_both(one: Engine, other: Engine, seed: int, batches: int = 8) -> None:
    for i in range(batches):
        lines = random_lines(seed * 100 + i, 40)
        t = float(i)
        one.process(LogBatch("s", t, None, lines=lines), t)
        other.process(LogBatch("s", t, None, lines=[*lines, "a\nb"]), t)  # line by line


class FakeOffload:
    """Runs the passes here (as the helper would), counting them; `answer` may spoil them."""

    def __init__(self, answer: Callable[[list[Any]], list[Any] | None] = lambda s: s) -> None:
        self.answer = answer
        self.metric_passes = 0

    def __call__(self, text: str, specs: tuple[Spec, ...]) -> Callable[[], list[Any] | None]:
        shared: dict[object, Any] = {}
        got = [run_pass(s, text, shared) for s in specs]
        self.metric_passes += sum(isinstance(x, MetricDelta) for x in got)
        return lambda: self.answer(got)


@pytest.mark.parametrize("seed", range(3))
def test_offloaded_metric_passes_give_the_series_of_each_line_alone(seed: int) -> None:
    off = FakeOffload()
    offloaded, alone = engine(off), engine()
    assert sum(s.spec is not None for s in offloaded.log_metrics.states) == 9  # (not filtered)
    feed_both(offloaded, alone, seed)
    assert off.metric_passes > 0
    assert table(offloaded) == table(alone)
    assert any(table(alone)["failed_total"]) and any(table(alone)["bytes_hist"])


def wrong_labels(got: list[Any]) -> list[Any]:
    return [
        MetricDelta({("x", "y", "z"): 1.0}, {}) if isinstance(s, MetricDelta) else s for s in got
    ]


@pytest.mark.parametrize(
    "answer",
    [lambda s: None, lambda s: s[:-1], wrong_labels, lambda s: [EMPTY_VALUE] * len(s)],
    ids=["no answer", "one summary short", "labels that do not fit", "all unjudged"],
)
def test_a_summary_that_does_not_come_or_fit_is_computed_here(answer: Any) -> None:
    offloaded, alone = engine(FakeOffload(answer)), engine()
    feed_both(offloaded, alone, 7)
    assert table(offloaded) == table(alone)


def test_a_batch_of_several_times_runs_its_metrics_here() -> None:
    off = FakeOffload()
    e = engine(off)
    lines = ['a - - [x] "GET / HTTP/1.1" 200 5 "-"'] * 3
    batch = LogBatch("s", 5.0, None, lines=lines, times=lambda ls: [1.0, 2.0, 3.0])
    e.process(batch, 5.0)
    assert off.metric_passes == 0  # (each run's text is not the batch's)
    assert table(e)["req_total"] == [(("200",), 3.0)]


@pytest.mark.parametrize(
    "delta",
    [
        MetricDelta({("200",): 3.0, ("404",): 1.5}, {}),
        MetricDelta({}, {("GET",): ((1, 0, 2), 7.5), (): ((0, 0, 1), 1e9)}),
        MetricDelta({(): 2.0}, {}),
    ],
)
def test_a_metric_summary_survives_the_wire(delta: MetricDelta) -> None:
    assert _summary(_plain_loads(pickle.dumps(_to_wire(delta)))) == delta
    assert _summary(_to_wire(NO_MATCH)) == NO_MATCH


@pytest.mark.parametrize(
    "wire",
    [
        ("metric", [("a",)], b"\0" * 16, []),  # two values for one label set
        ("metric", [(1,)], b"\0" * 8, []),
        ("metric", [], b"", [(("a",), (1, -1), 2.0)]),
        ("metric", [], b"", [(("a",), (1, 1), "2")]),
        ("metric", [], b"", [("a", (1,), 2.0)]),
    ],
)
def test_a_garbled_metric_summary_is_refused(wire: object) -> None:
    with pytest.raises(Garbled):
        _summary(wire)


@pytest.fixture
def worker() -> Iterator[ScanWorker]:
    w = ScanWorker(min_chars=0, timeout=5.0, retry_after=0.0)
    yield w
    w.close()


@pytest.mark.integration
def test_the_helper_runs_metric_passes_beside_the_rules(worker: ScanWorker) -> None:
    offloaded, alone = engine(worker), engine()
    feed_both(offloaded, alone, 11)
    assert worker.handed >= 8  # every batch (with the rule's pass) went to the helper
    assert table(offloaded) == table(alone)


@pytest.mark.parametrize("methods", [3, 400], ids=["few label sets", "a label set a line"])
def test_metrics_of_one_regex_count_its_lines_once_by_all_their_labels(methods: int) -> None:
    e, alone = engine(), engine()
    by = {s.metric.name: s.spec for s in e.log_metrics.states if s.spec is not None}
    assert by["req_total"].count_by == by["req_method_status_total"].count_by == (1, 0)
    rnd = random.Random(methods)
    names = ["".join(rnd.choice("ABCDEFGH") for _ in range(6)) for _ in range(methods)]
    lines = [
        f'a - - [x] "{rnd.choice(names)} / HTTP/1.1" {rnd.choice(["200", "404"])} 1 "-"'
        for _ in range(400)
    ]
    e.process(LogBatch("s", 1.0, None, lines=lines), 1.0)
    alone.process(LogBatch("s", 1.0, None, lines=[*lines, "a\nb"]), 1.0)
    assert table(e) == table(alone)
    assert len(table(e)["req_method_status_total"]) > (2 if methods == 3 else 300)
