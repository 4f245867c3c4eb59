"""The scan helper process: what it finds is what the engine finds alone, and when it dies or
hangs the engine finds it itself, losing nothing."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.scanworker import ScanWorker
from rules.engine import Engine
from rules.loader import load_rule_files
from tests.conftest import wait_for
from tests.rules.helpers import engine
from tests.rules.test_batches import RULES, line_by_line, random_lines, state, text_batch

pytestmark = pytest.mark.integration


@pytest.fixture
def worker() -> Iterator[ScanWorker]:
    w = ScanWorker(min_chars=0, timeout=5.0, retry_after=0.0)
    yield w
    w.close()


def with_helper(w: ScanWorker) -> Engine:
    return Engine(load_rule_files([("t.yaml", RULES)], default_interval=15), {}, offload=w)


def feed_both(offloaded: Engine, alone: Engine, seed: int, batches: int = 6) -> None:
    lines = [ln for ln in random_lines(seed, 50 * batches) if "\n" not in ln.line]
    for t in range(0, len(lines), 50):
        for source in ("s1", "s2"):
            part = [ln for ln in lines[t: t + 50] if ln.source == source]
            if part:
                offloaded.process(text_batch(part), float(t))
                for ln in part:
                    alone.process([ln], float(t))


@pytest.mark.parametrize("seed", range(3))
def test_passes_run_by_the_helper_find_what_each_line_alone_finds(worker: ScanWorker,
                                                                  seed: int) -> None:
    offloaded = with_helper(worker)
    alone = line_by_line(engine(RULES))
    bulk = [r.rule.alert for r in offloaded._log_rules if r.bulk_spec is not None]
    assert {"Ratio", "CountSameShapeAsRatio", "QuantileOfGroup", "QuantileOptionalGroup"} \
        <= set(bulk)  # counts, a shared findall, values and the fallback of an empty group
    feed_both(offloaded, alone, seed)
    assert worker.handed >= 6  # every batch's bulk passes went to the helper
    assert state(offloaded) == state(alone)


def test_a_helper_killed_is_replaced_and_its_batch_is_scanned_here(worker: ScanWorker) -> None:
    offloaded = with_helper(worker)
    alone = line_by_line(engine(RULES))
    feed_both(offloaded, alone, 7, batches=1)
    first = worker.pid
    assert first is not None and worker.handed >= 1
    os.kill(first, signal.SIGKILL)
    handed = worker.handed
    feed_both(offloaded, alone, 8, batches=2)  # the dead helper's batch is scanned in-process
    assert state(offloaded) == state(alone)
    assert worker.pid not in (None, first)  # a new helper took the batches after it
    assert worker.handed > handed


def test_a_helper_that_does_not_answer_in_time_is_given_up(worker: ScanWorker) -> None:
    worker.timeout, worker.retry_after = 0.5, 3600.0
    offloaded = with_helper(worker)
    alone = line_by_line(engine(RULES))
    feed_both(offloaded, alone, 9, batches=1)
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # hangs: the next hand-over waits 0.5 s, then scans here
    try:
        feed_both(offloaded, alone, 10, batches=2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed by then, as it should be
            os.kill(pid, signal.SIGCONT)
    assert state(offloaded) == state(alone)
    assert worker.pid is None  # given up; no new one before retry_after


def test_small_batches_stay_in_process_and_start_no_helper() -> None:
    w = ScanWorker()
    try:
        offloaded = with_helper(w)
        alone = line_by_line(engine(RULES))
        feed_both(offloaded, alone, 11)
        assert state(offloaded) == state(alone)
        assert w.pid is None and w.handed == 0
    finally:
        w.close()


def test_close_ends_the_helper(worker: ScanWorker) -> None:
    offloaded = with_helper(worker)
    feed_both(offloaded, line_by_line(engine(RULES)), 12, batches=1)
    pid = worker.pid
    assert pid is not None
    worker.close()
    assert worker.pid is None
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"))


def test_global_scan_worker_false_runs_no_helper(tmp_path: Path) -> None:
    from alerter.config import load_config
    from alerter.wiring import _scan_worker

    cfg = tmp_path / "config.yaml"
    cfg.write_text("global: {state_dir: state, scan_worker: false}\n")
    assert _scan_worker(load_config(str(cfg))) is None
    cfg.write_text("global: {state_dir: state}\n")
    w = _scan_worker(load_config(str(cfg)))
    try:
        assert (w is not None) is ((os.cpu_count() or 1) >= 2)  # on by default with 2+ CPUs
    finally:
        if w is not None:
            w.close()
