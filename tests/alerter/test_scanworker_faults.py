"""The scan worker against a helper that fails at each step (a fake channel, no process): a
helper that dies, hangs or speaks garbage at any point costs only in-process work. The engine
finds what it finds alone, nothing raises, code in an answer never runs, every helper started
is closed once, no wait outlasts the timeout, and a new helper takes over."""

from __future__ import annotations

import copyreg
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from alerter.rules.bulk import BulkSpec, Summary
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.runtime.scanworker import Garbled, ScanWorker, _plain_loads
from tests.alerter.scan_channels import FAULTS, GARBLES, Evil, FakeHelper, pwned
from tests.rules.helpers import engine, logs
from tests.rules.test_batches import RULES, line_by_line, random_lines, state, text_batch

TIMEOUT = 0.05  # a fake answers at once: only a fault waits this long


def with_offload(offload: Any) -> Engine:
    return Engine(load_rule_files([("t.yaml", RULES)], default_interval=15), {}, offload=offload)


def feed_both(offloaded: Engine, alone: Engine, seed: int, batches: int) -> None:
    lines = [ln for ln in random_lines(seed, 50 * batches) if "\n" not in ln.line]
    for t in range(0, len(lines), 50):
        for source in ("s1", "s2"):
            part = [ln for ln in lines[t : t + 50] if ln.source == source]
            if part:
                offloaded.process(text_batch(part), float(t))
                for ln in part:
                    logs(alone, float(t), [ln])


class Spawner:
    """Starts fake helpers: the first fails as told, the ones after it are sound."""

    def __init__(self, fault: str | None, at: int) -> None:
        self.fault, self.at = fault, at
        self.spawned: list[FakeHelper] = []
        self.worker: ScanWorker | None = None

    def __call__(self, size: int) -> FakeHelper:
        fake = FakeHelper(size, None if self.spawned else self.fault, self.at)
        fake.timeout = self.worker.timeout if self.worker is not None else None
        self.spawned.append(fake)
        return fake


def faulty_worker(fault: str | None, at: int) -> tuple[ScanWorker, Spawner]:
    spawner = Spawner(fault, at)
    w = ScanWorker(min_chars=0, timeout=TIMEOUT, retry_after=0.0, spawn=spawner)
    spawner.worker = w
    return w, spawner


def check_survives(fault: str, at: int, seed: int) -> None:
    w, spawner = faulty_worker(fault, at)
    offloaded, alone = with_offload(w), line_by_line(engine(RULES))
    feed_both(offloaded, alone, seed, batches=6)  # 12 hand-overs (one a source and time)
    assert state(offloaded) == state(alone)
    assert offloaded._rule_errors == alone._rule_errors == {}
    first, *later = spawner.spawned
    assert first.fired, f"the {fault} fault at {at} was never reached"
    assert sum(f.answered for f in later) >= 1  # a new helper took the batches after it
    w.close()
    w.close()
    assert [len(f.closed) for f in spawner.spawned] == [1] * len(spawner.spawned)
    assert first.closed == [0.0]  # given up: killed at once
    assert all(f.deadlines_past_timeout == 0 for f in spawner.spawned)
    assert not pwned


@pytest.mark.parametrize("at", range(14))
@pytest.mark.parametrize("fault", FAULTS)
def test_a_transport_fault_at_any_step_costs_only_in_process_work(fault: str, at: int) -> None:
    check_survives(fault, at, seed=at)


@pytest.mark.parametrize("at", range(3))  # the "ready", the first answer, the second
@pytest.mark.parametrize("garble", sorted(GARBLES))
def test_a_garbled_answer_costs_only_in_process_work(garble: str, at: int) -> None:
    check_survives(garble, at, seed=100 + at)


def test_a_sound_fake_helper_takes_every_batch() -> None:
    w, spawner = faulty_worker(None, 0)
    offloaded, alone = with_offload(w), line_by_line(engine(RULES))
    feed_both(offloaded, alone, 1, batches=3)
    assert state(offloaded) == state(alone)
    assert len(spawner.spawned) == 1 and w.handed == spawner.spawned[0].answered >= 6
    w.close()
    assert spawner.spawned[0].closed == [1.0]  # a sound helper gets time to exit


def test_a_pass_that_fails_in_the_helper_runs_here_and_the_helper_is_kept() -> None:
    w, spawner = faulty_worker(None, 0)
    offloaded, alone = with_offload(w), line_by_line(engine(RULES))
    feed_both(offloaded, alone, 2, batches=1)
    fake = spawner.spawned[0]
    handle = fake.helper.handle
    # (the running helper, patched: from now on its scans fail; a subclass would be a new one)
    fake.helper.handle = lambda msg: ("error", msg[1], "boom") if msg[0] == "scan" else handle(msg)  # type: ignore[method-assign]
    handed = w.handed
    feed_both(offloaded, alone, 3, batches=2)
    assert state(offloaded) == state(alone)
    assert w.handed == handed and spawner.spawned == [fake] and not fake.closed
    w.close()


def test_a_helper_that_cannot_start_costs_nothing_and_is_tried_again() -> None:
    tries: list[int] = []

    def spawn(size: int) -> FakeHelper:
        tries.append(size)
        if len(tries) == 1:
            raise OSError(38, "Function not implemented")  # no memfd_create
        return FakeHelper(size)

    w = ScanWorker(min_chars=0, timeout=TIMEOUT, retry_after=0.0, spawn=spawn)
    offloaded, alone = with_offload(w), line_by_line(engine(RULES))
    feed_both(offloaded, alone, 4, batches=2)
    assert state(offloaded) == state(alone)
    assert len(tries) == 2 and w.handed >= 1
    w.close()


def test_close_never_raises_even_when_the_channel_does() -> None:
    class Breaking(FakeHelper):
        def close(self, grace: float) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    w = ScanWorker(min_chars=0, timeout=TIMEOUT, retry_after=0.0, spawn=Breaking)
    w.close()  # never started
    assert w.start() and w.pid is None
    w.close()
    w.close()
    assert w.start()
    w.close()


def test_a_wait_after_close_gives_the_passes_back() -> None:
    w, _ = faulty_worker(None, 0)
    specs = tuple(r.bulk_spec for r in with_offload(None)._log_rules if r.bulk_spec is not None)
    text = "\n".join(ln.line for ln in random_lines(5, 50) if "\n" not in ln.line)
    wait = w(text, specs)
    assert wait is not None
    w.close()
    assert wait() is None  # (not an answer read from a helper since ended)
    wait = w(text, specs)
    assert wait is not None
    again = w(text, specs)  # a hand-over not waited for: its answer is skipped
    assert again is not None and wait() is not None and again() is not None
    w.close()


def test_an_answer_that_names_code_does_not_run_it() -> None:
    with pytest.raises(Garbled):
        _plain_loads(pickle.dumps(("done", 1, [Evil()])))
    with pytest.raises(Garbled):  # the extension registry resolves names as well
        copyreg.add_extension(__name__, "Evil", 0xC0DE)
        try:
            _plain_loads(pickle.dumps(Evil, protocol=2))
        finally:
            copyreg.remove_extension(__name__, "Evil", 0xC0DE)
    assert not pwned
    assert _plain_loads(pickle.dumps(("done", 1, [None, (1, 0, ["x"]), (b"", [])]))) == (
        "done",
        1,
        [None, (1, 0, ["x"]), (b"", [])],
    )


Wait = Callable[[], "list[Summary] | None"]


@pytest.mark.parametrize(
    "offload",
    [
        pytest.param(lambda text, specs: 1 / 0, id="offload_raises"),
        pytest.param(lambda text, specs: lambda: 1 / 0, id="wait_raises"),
        pytest.param(lambda text, specs: lambda: [None], id="too_few_summaries"),
        pytest.param(lambda text, specs: lambda: [None] * (len(specs) + 1), id="too_many"),
        pytest.param(lambda text, specs: lambda: tuple([None] * len(specs)), id="not_a_list"),
        pytest.param(lambda text, specs: lambda: None, id="gives_them_back"),
    ],
)
def test_feed_runs_the_passes_here_whatever_the_offload_does(
    offload: Callable[[str, tuple[BulkSpec, ...]], Wait | None],
) -> None:
    offloaded, alone = with_offload(offload), line_by_line(engine(RULES))
    feed_both(offloaded, alone, 6, batches=2)
    assert state(offloaded) == state(alone)
    assert offloaded._rule_errors == {}
