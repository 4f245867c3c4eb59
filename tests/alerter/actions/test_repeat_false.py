"""`repeat: false`: an action runs once per firing of its alert, across a crash and the replay of
its lines; one held back by the cooldown runs once that has passed, also after a restart; a
refusal for its target is recorded once per firing."""

from __future__ import annotations

from .conftest import RESTART, T0, Harness, alert, fire, resolve, run_ticks


def test_repeat_false_runs_once_per_firing(harness: Harness) -> None:
    r = harness.build(RESTART.replace("cooldown: 5m", "cooldown: 1m\n    repeat: false"))
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 900, step=30)
    assert len(harness.units.operations()) == 1
    r.handle([resolve(a, harness.clock.now())], harness.clock.now())
    harness.clock.advance(120)
    r.handle([fire(a, harness.clock.now())], harness.clock.now())
    r.wait_idle()
    assert len(harness.units.operations()) == 2


ONCE = RESTART.replace("cooldown: 5m", "cooldown: 0s\n    repeat: false")


def test_repeat_false_runs_once_per_firing_across_a_crash_and_the_replay(
    harness: Harness,
) -> None:
    r = harness.build(ONCE)
    a = alert(["restart-web"], unit="web.service", active_at=T0)
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    r.stop()  # a crash: the checkpoint before the firing is all the engine has
    r2 = harness.build(ONCE)
    # the lines since that checkpoint are read again: the alert fires again, becoming pending
    # at the time of the replay, but it is the same firing (it never resolved)
    replayed = alert(["restart-web"], unit="web.service", active_at=T0 + 30)
    r2.handle([fire(replayed, T0 + 30)], T0 + 30)
    run_ticks(r2, harness.clock, [replayed], 120, step=10)
    assert harness.units.operations() == [("restart", "web.service")]
    assert harness.outcomes(r2) == ["ok"]
    assert r2.notes(a.fingerprint) == [
        "restarted web.service at 22:13 UTC, 1 of 3 in the last hour"
    ]
    # a firing after a resolve is a new one
    now = harness.clock.now()
    r2.handle([resolve(replayed, now)], now)
    again = alert(["restart-web"], unit="web.service", active_at=now + 60)
    r2.handle([fire(again, now + 60)], now + 60)
    assert harness.outcomes(r2) == ["ok", "ok"]
    assert len(harness.units.operations()) == 2


def test_repeat_false_does_not_rerun_when_a_crash_loses_the_resolve_of_its_firing(
    harness: Harness,
) -> None:
    r = harness.build(ONCE)
    a = alert(["restart-web"], unit="web.service", active_at=T0)
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    r.handle([resolve(a, T0 + 20)], T0 + 20)
    r.stop()  # a crash before the checkpoint: the engine comes back from before the firing
    r2 = harness.build(ONCE)
    # the lines read again fire and resolve the same firing again, at the replay's times
    replayed = alert(["restart-web"], unit="web.service", active_at=T0 + 30)
    r2.handle([fire(replayed, T0 + 30)], T0 + 30)
    r2.handle([resolve(replayed, T0 + 31)], T0 + 31)
    assert harness.units.operations() == [("restart", "web.service")]
    assert harness.outcomes(r2) == ["ok"]
    # once a checkpoint covers the resolve, the next firing is a new one
    harness.checkpoint(r2)
    r3 = harness.build(ONCE)
    again = alert(["restart-web"], unit="web.service", active_at=T0 + 90)
    r3.handle([fire(again, T0 + 90)], T0 + 90)
    assert harness.outcomes(r3) == ["ok", "ok"]
    assert len(harness.units.operations()) == 2


def test_repeat_false_does_not_rerun_when_a_crash_loses_only_the_resolve(
    harness: Harness,
) -> None:
    r = harness.build(ONCE)
    a = alert(["restart-web"], unit="web.service", active_at=T0)
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    harness.checkpoint(r)  # the firing is committed
    r.handle([resolve(a, T0 + 20)], T0 + 20)
    r.stop()  # a crash before the checkpoint: the engine comes back with the alert firing
    r2 = harness.build(ONCE)
    harness.clock.set(T0 + 30)
    run_ticks(r2, harness.clock, [a], 30, step=10)
    assert harness.units.operations() == [("restart", "web.service")]
    r2.handle([resolve(a, T0 + 60)], T0 + 60)  # the lines read again resolve it
    again = alert(["restart-web"], unit="web.service", active_at=T0 + 90)
    r2.handle([fire(again, T0 + 90)], T0 + 90)  # and a later firing is a new one
    assert harness.outcomes(r2) == ["ok", "ok"]
    assert len(harness.units.operations()) == 2


def test_repeat_false_runs_once_for_each_of_two_firings_in_one_checkpoint_interval_and_a_crash(
    harness: Harness,
) -> None:
    r = harness.build(ONCE)
    first = alert(["restart-web"], unit="web.service", active_at=T0)
    r.handle([fire(first, T0)], T0)
    harness.checkpoint(r)  # the engine state committed here holds the first firing
    r.handle([resolve(first, T0 + 20)], T0 + 20)
    second = alert(["restart-web"], unit="web.service", active_at=T0 + 30)
    r.handle([fire(second, T0 + 30)], T0 + 30)
    assert harness.outcomes(r) == ["ok", "ok"]  # a new firing: its own run
    r.stop()  # a crash before the next checkpoint
    r2 = harness.build(ONCE)
    # the engine comes back with the first firing, which resolves at the first evaluation
    # (its lines are out of the window) before the lines read again fire the second again
    r2.handle([resolve(first, T0 + 40)], T0 + 40)
    replayed = alert(["restart-web"], unit="web.service", active_at=T0 + 41)
    r2.handle([fire(replayed, T0 + 41)], T0 + 41)
    run_ticks(r2, harness.clock, [replayed], 60, step=10)
    assert harness.outcomes(r2) == ["ok", "ok"]
    assert len(harness.units.operations()) == 2
    # the second firing's own resolve ends it; the next firing is a new one with its run
    now = harness.clock.now()
    r2.handle([resolve(replayed, now)], now)
    third = alert(["restart-web"], unit="web.service", active_at=now + 10)
    r2.handle([fire(third, now + 10)], now + 10)
    assert harness.outcomes(r2) == ["ok", "ok", "ok"]


def test_repeat_false_after_a_crash_a_restored_firing_that_went_on_ends_at_its_resolve(
    harness: Harness,
) -> None:
    # as above, but the lines read again come before the first evaluation: the restored first
    # firing simply goes on (no transition) and is the second; its resolve ends it
    r = harness.build(ONCE)
    first = alert(["restart-web"], unit="web.service", active_at=T0)
    r.handle([fire(first, T0)], T0)
    harness.checkpoint(r)
    r.handle([resolve(first, T0 + 20)], T0 + 20)
    r.handle(
        [fire(alert(["restart-web"], unit="web.service", active_at=T0 + 30), T0 + 30)], T0 + 30
    )
    assert harness.outcomes(r) == ["ok", "ok"]
    r.stop()
    r2 = harness.build(ONCE)
    harness.clock.set(T0 + 40)
    run_ticks(r2, harness.clock, [first], 30, step=10)
    assert harness.outcomes(r2) == ["ok", "ok"]
    now = harness.clock.now()
    r2.handle([resolve(first, now)], now)
    harness.checkpoint(r2)
    r3 = harness.build(ONCE)  # (a later start)
    third = alert(["restart-web"], unit="web.service", active_at=now + 10)
    r3.handle([fire(third, now + 10)], now + 10)
    assert harness.outcomes(r3) == ["ok", "ok", "ok"]
    assert len(harness.units.operations()) == 3


def test_repeat_false_skipped_by_the_cooldown_runs_once_the_cooldown_has_passed(
    harness: Harness,
) -> None:
    r = harness.build(RESTART.replace("cooldown: 5m", "cooldown: 5m\n    repeat: false"))
    a = alert(["restart-web"], unit="web.service", path="/a")
    b = alert(["restart-web"], unit="web.service", path="/b")
    c = alert(["restart-web"], unit="web.service", path="/c")
    r.handle([fire(a, T0)], T0)
    r.handle([fire(b, T0 + 60), fire(c, T0 + 60)], T0 + 60)
    assert harness.outcomes(r) == ["ok", "skipped_cooldown", "skipped_cooldown"]
    harness.clock.advance(60)
    run_ticks(r, harness.clock, [a, b, c], 100, step=10)
    now = harness.clock.now()
    r.handle([resolve(c, now)], now)  # c resolved before the cooldown passed: nothing owed
    run_ticks(r, harness.clock, [a, b], 900, step=10)
    # b ran once, as soon as the cooldown after a's run had passed; a did not run again
    assert harness.outcomes(r) == ["ok", "skipped_cooldown", "skipped_cooldown", "ok"]
    (late,) = [x for x in r.history() if x["outcome"] == "ok" and x["fingerprint"] == b.fingerprint]
    assert late["time"] == "2023-11-14T22:18:20.000Z"
    assert len(harness.units.operations()) == 2


def test_repeat_false_still_owed_after_a_restart_runs_once_and_a_done_one_does_not_rerun(
    harness: Harness,
) -> None:
    text = RESTART.replace("cooldown: 5m", "cooldown: 5m\n    repeat: false")
    r = harness.build(text)
    a = alert(["restart-web"], unit="web.service", path="/a")
    b = alert(["restart-web"], unit="web.service", path="/b")
    r.handle([fire(a, T0)], T0)
    r.handle([fire(b, T0 + 60)], T0 + 60)
    assert harness.outcomes(r) == ["ok", "skipped_cooldown"]
    r.stop()
    r2 = harness.build(text)  # both still firing in the restored engine: no transitions
    harness.clock.advance(60)
    run_ticks(r2, harness.clock, [a, b], 900, step=10)
    assert harness.outcomes(r2) == ["ok", "skipped_cooldown", "ok"]
    assert len(harness.units.operations()) == 2


def test_repeat_false_refused_for_its_target_is_recorded_once_per_firing(
    harness: Harness,
) -> None:
    r = harness.build(ONCE)
    a = alert(["restart-web"])  # no unit label: the target cannot be rendered
    b = alert(["restart-web"], unit="ssh", x="1")  # a protected unit
    r.handle([fire(a, T0), fire(b, T0)], T0)
    run_ticks(r, harness.clock, [a, b], 900, step=10)
    assert sorted(harness.outcomes(r)) == ["invalid_target", "refused_protected"]
    assert harness.units.operations() == []
