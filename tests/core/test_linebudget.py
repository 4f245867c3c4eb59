"""The budget for a line per alert or per notification: a burst, a rate past it, and the lines
held back counted for a summary at most every `every` seconds."""

from __future__ import annotations

import threading

from alerter.core.linebudget import LineBudget


class Clock:
    def __init__(self) -> None:
        self.mono = 50.0

    def __call__(self) -> float:
        return self.mono


def test_a_burst_then_the_rate_and_what_is_held_back_by_key() -> None:
    clock = Clock()
    budget: LineBudget[str] = LineBudget(burst=3, rate=2.0, every=10.0, monotonic=clock)
    assert [budget.allow("a") for _ in range(5)] == [True, True, True, False, False]
    clock.mono += 1.0  # two more a second
    assert [budget.allow("b") for _ in range(3)] == [True, True, False]
    held = budget.take_held()
    assert held == {"a": 2, "b": 1}
    assert budget.take_held() is None  # told: nothing held


def test_a_summary_waits_its_interval_unless_forced() -> None:
    clock = Clock()
    budget: LineBudget[str] = LineBudget(burst=0, rate=0.0, every=10.0, monotonic=clock)
    budget.allow("x")
    assert budget.take_held() == {"x": 1}  # the first summary is due at once
    budget.allow("x")
    clock.mono += 9.0
    assert budget.take_held() is None  # held, not yet due
    clock.mono += 1.0
    assert budget.take_held() == {"x": 1}
    budget.allow("y")
    assert budget.take_held(force=True) == {"y": 1}  # at stop


def test_threads_sharing_a_budget_get_exactly_its_burst() -> None:
    budget: LineBudget[int] = LineBudget(burst=100, rate=0.0, monotonic=lambda: 0.0)
    allowed = [0] * 8

    def use(i: int) -> None:
        allowed[i] = sum(budget.allow(i) for _ in range(500))

    threads = [threading.Thread(target=use, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = budget.take_held(force=True)
    assert held is not None
    assert sum(allowed) == 100 and sum(held.values()) == 8 * 500 - 100
