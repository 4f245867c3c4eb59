"""The scan helper process: what it finds is what the engine finds alone, and when it dies or
hangs (SIGKILL or SIGSTOP at any step: start, hand-over, answer, close) the engine finds it
itself, losing nothing, and a new helper takes over. No test relies on timing: each polls with
a deadline, feeding batches until what it waits for has happened."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.plans import BulkPlan, Pass, base, literals
from alerter.runtime.scanworker import Channel, HelperProcess, ScanWorker
from tests.alerter.scan_channels import Killing
from tests.conftest import wait_for
from tests.rules.helpers import engine, logs
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
            part = [ln for ln in lines[t : t + 50] if ln.source == source]
            if part:
                offloaded.process(text_batch(part), float(t))
                for ln in part:
                    logs(alone, float(t), [ln])


@pytest.mark.parametrize("seed", range(3))
def test_passes_run_by_the_helper_find_what_each_line_alone_finds(
    worker: ScanWorker, seed: int
) -> None:
    offloaded = with_helper(worker)
    alone = line_by_line(engine(RULES))
    bulk = [r.rule.alert for r in offloaded._log_rules if r.bulk_spec is not None]
    assert {"Ratio", "CountSameShapeAsRatio", "QuantileOfGroup", "QuantileOptionalGroup"} <= set(
        bulk
    )  # counts, a shared findall, values and the fallback of an empty group
    feed_both(offloaded, alone, seed)
    assert worker.handed >= 6  # every batch's bulk passes went to the helper
    assert state(offloaded) == state(alone)


def feed_until(
    cond: Callable[[], object], offloaded: Engine, alone: Engine, seed: int, timeout: float = 60.0
) -> None:
    """Batches to both engines until cond() holds (each poll feeds one more: no timing)."""
    seeds = itertools.count(seed)

    def fed() -> object:
        if cond():
            return True
        feed_both(offloaded, alone, next(seeds), batches=1)
        return cond()

    wait_for(fed, timeout=timeout, interval=0)


def gone(pids: list[int]) -> bool:
    """None of the processes exists any more (a zombie still does: it must be reaped)."""
    return not any(os.path.exists(f"/proc/{p}") for p in pids)


def test_a_helper_killed_is_replaced_and_its_batch_is_scanned_here(worker: ScanWorker) -> None:
    offloaded = with_helper(worker)
    alone = line_by_line(engine(RULES))
    assert worker.start()
    first = worker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    handed = worker.handed
    # the dead helper's batch is scanned in-process; a new helper takes those after it
    feed_until(
        lambda: worker.pid not in (None, first) and worker.handed > handed, offloaded, alone, 8
    )
    assert state(offloaded) == state(alone)
    wait_for(lambda: gone([first]))  # killed and reaped


def test_a_helper_that_does_not_answer_in_time_is_given_up(worker: ScanWorker) -> None:
    offloaded = with_helper(worker)
    alone = line_by_line(engine(RULES))
    assert worker.start()
    pid = worker.pid
    assert pid is not None
    worker.timeout, worker.retry_after = 0.5, 3600.0
    os.kill(pid, signal.SIGSTOP)  # hangs: the next hand-over waits 0.5 s, then scans here
    try:
        feed_both(offloaded, alone, 10, batches=2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed by then, as it should be
            os.kill(pid, signal.SIGCONT)
    assert state(offloaded) == state(alone)
    assert worker.pid is None  # given up; no new one before retry_after
    wait_for(lambda: gone([pid]))


class SignallingSpawner:
    """Starts real helpers; each gets `sig` before step `at` until one has got it."""

    def __init__(self, sig: int, at: int | None) -> None:
        self.sig, self.at = sig, at
        self.faulty: list[Killing] = []
        self.pids: list[int] = []

    @property
    def fired(self) -> bool:
        return any(k.fired for k in self.faulty)

    def __call__(self, size: int) -> Channel:
        real = HelperProcess(size)
        assert real.pid is not None
        self.pids.append(real.pid)
        if self.fired:
            return real
        self.faulty.append(Killing(real, self.sig, self.at))
        return self.faulty[-1]


STEPS = [*range(9), None]  # 0-1 "ready", 2 put, 3-4 specs and scan, 5-6 the answer...; close


@pytest.mark.parametrize("at", STEPS, ids=lambda a: "close" if a is None else f"step{a}")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill", "stop"])
def test_a_helper_signalled_at_any_step_costs_only_in_process_work(
    sig: int, at: int | None
) -> None:
    spawner = SignallingSpawner(sig, at)
    # a stopped helper costs `timeout` once; one too slow to start under load is retried
    w = ScanWorker(min_chars=0, timeout=1.0, retry_after=0.0, spawn=spawner)
    offloaded, alone = with_helper(w), line_by_line(engine(RULES))
    try:
        if at is not None:
            feed_until(lambda: spawner.fired, offloaded, alone, 20)
            w.timeout = 5.0  # the new helper has all the time it needs
            handed = w.handed
            feed_until(lambda: w.handed > handed, offloaded, alone, 40)
            assert w.pid not in [k.pid for k in spawner.faulty]  # replaced
        else:
            feed_until(lambda: w.handed >= 2, offloaded, alone, 20)
        assert state(offloaded) == state(alone)
        assert offloaded._rule_errors == {}
    finally:
        w.close()
        for pid in spawner.pids:  # (a stopped helper is killed by then, as it should be)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert spawner.fired and w.pid is None
    wait_for(lambda: gone(spawner.pids))  # every helper it started, ended and reaped


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
    from alerter.config.load import load_config
    from alerter.runtime.wiring import _scan_worker

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


@pytest.mark.parametrize("seed", range(3))
def test_bulk_rules_whose_lines_the_pass_found_run_here_the_others_there(
    worker: ScanWorker, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With each literal's lines found by the pass (LiteralSet.starts, here for every batch),
    a bulk rule whose lines are few reads them here and the others go to the helper: the
    result is what each line alone gives either way."""
    monkeypatch.setattr(literals, "INDEX_LITERALS", 1)
    monkeypatch.setattr(literals, "LINE_MS", 1e-12)
    monkeypatch.setattr(base, "SPARSE", 400)  # (a 50-line batch: few, about 6)
    offloaded = with_helper(worker)
    alone = line_by_line(engine(RULES))
    here = 0
    holding = BulkPlan.holding

    def counted(plan: BulkPlan, p: Pass, text: str) -> list[int] | None:
        nonlocal here
        got = holding(plan, p, text)
        here += got is not None
        return got

    monkeypatch.setattr(BulkPlan, "holding", counted)
    feed_both(offloaded, alone, seed)
    assert worker.handed >= 1 and here >= 1  # both ways taken
    assert state(offloaded) == state(alone)
