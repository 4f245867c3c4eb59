"""A run a crash cut short: marked interrupted at the next start, once, and still counted by the
cooldown, the limit and repeat: false; a run still going on in this process (a reload) or in
another daemon is not marked."""

from __future__ import annotations

from pathlib import Path

from alerter.rules.alert import Alert

from .conftest import RESTART, T0, BlockingExecutor, Harness, alert, fire, run_ticks


def _left_running_by_a_crash(harness: Harness, a: Alert, at: float) -> None:
    """The row a run cut by a crash leaves: recorded as running, never finished."""
    assert harness.store is not None
    with harness.store.transaction() as db:
        db.execute(
            "INSERT INTO action_history (time, action, target, fingerprint, alertname, outcome,"
            " dry_run, detail) VALUES (?, 'restart-web', 'web.service', ?, 'WebErrors',"
            " 'running', 0, 'restarted web.service')",
            (at, a.fingerprint),
        )


def test_a_run_a_crash_cut_short_is_marked_interrupted_at_start_and_still_counts(
    harness: Harness,
) -> None:
    a = alert(["restart-web"], unit="web.service")
    harness.build(RESTART).stop()  # the state store of an earlier process
    _left_running_by_a_crash(harness, a, T0)
    r = harness.build(RESTART)  # the next start
    (rec,) = r.history()
    assert rec["outcome"] == "interrupted"
    assert rec["detail"] == (
        "restarted web.service: alerter stopped before it ended; whether it took effect is unknown"
    )
    assert harness.metric("restart-web", "interrupted") == 1
    assert r.notes(a.fingerprint) == [
        "restart web.service at 22:13 UTC was interrupted (alerter stopped before it ended; "
        "whether it took effect is unknown), 1 of 3 in the last hour"
    ]
    # it may have run: the cooldown and the limit count it
    r.handle([fire(a, T0 + 60)], T0 + 60)
    assert harness.outcomes(r) == ["interrupted", "skipped_cooldown"]
    r.stop()
    harness.build(RESTART)  # marked once: a later start finds nothing to mark
    assert harness.metric("restart-web", "interrupted") == 1


def test_repeat_false_does_not_retry_a_run_a_crash_cut_short(harness: Harness) -> None:
    # it may have taken effect: it is the firing's one run
    text = RESTART.replace("cooldown: 5m", "cooldown: 1m\n    repeat: false")
    a = alert(["restart-web"], unit="web.service", active_at=T0)
    r = harness.build(text)  # an earlier process: the alert fired, the run began
    r.firings.fired(a.fingerprint, T0, keep=True, active_at=T0)
    r.stop()
    _left_running_by_a_crash(harness, a, T0)
    r2 = harness.build(text)
    run_ticks(r2, harness.clock, [a], 900, step=10)  # still firing, past many cooldowns
    assert harness.outcomes(r2) == ["interrupted"]
    assert harness.units.operations() == []


def test_a_run_still_in_progress_is_not_marked_interrupted_by_a_reload(harness: Harness) -> None:
    slow = BlockingExecutor()
    r = harness.build(RESTART, executors={"systemd": slow})
    r.handle([fire(alert(["restart-web"], unit="web.service"), T0)], T0)
    assert slow.started.wait(5)
    r2 = harness.build(RESTART)  # a reload: a new runner, in the same process, while it runs
    assert [x["outcome"] for x in r2.history()] == ["running"]
    slow.release.set()
    assert harness.outcomes(r) == ["ok"]
    assert harness.metric("restart-web", "interrupted") == 0


def test_the_runs_one_daemon_has_in_progress_do_not_keep_another_daemon_from_marking_its_own(
    harness: Harness, tmp_path: Path
) -> None:
    slow = BlockingExecutor()
    r = harness.build(RESTART, executors={"systemd": slow})
    r.handle([fire(alert(["restart-web"], unit="web.service"), T0)], T0)
    assert slow.started.wait(5)  # row 1 of this daemon's store is running
    other = Harness(tmp_path / "other")  # another daemon in the same test process
    try:
        other.build(RESTART).stop()
        _left_running_by_a_crash(other, alert(["restart-web"], unit="web.service"), T0)
        assert [x["outcome"] for x in other.build(RESTART).history()] == ["interrupted"]
    finally:
        slow.release.set()
        for o in other.runners:
            o.stop()
        if other.store is not None:
            other.store.close()
    assert harness.outcomes(r) == ["ok"]
