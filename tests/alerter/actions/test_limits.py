"""How often an action may run: its cooldown, its sliding-window limit (and the one
"remediation exhausted" alert when it is reached), both kept across a restart, and
global.actions_per_minute with the one history row per cooldown its refusals make."""

from __future__ import annotations

from alerter.actions.notes import EXHAUSTED

from .conftest import RESTART, T0, Harness, alert, fire, run_ticks


def test_cooldown_skips_a_second_alert_on_the_same_unit(harness: Harness) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service", path="/a")
    b = alert(["restart-web"], unit="web.service", path="/b")
    r.handle([fire(a, T0)], T0)
    r.handle([fire(b, T0 + 60)], T0 + 60)
    assert harness.outcomes(r) == ["ok", "skipped_cooldown"]
    assert len(harness.units.operations()) == 1
    assert r.notes(b.fingerprint) == [
        "did not restart web.service at 22:14 UTC: skipped cooldown "
        "(last run at 22:13 UTC, cooldown 5m)"
    ]


def test_repeats_every_cooldown_while_firing_then_one_exhausted_notification(
    harness: Harness,
) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 3600 - 60, step=10)  # ticks for almost the whole window
    assert harness.units.operations() == [("restart", "web.service")] * 3
    times = [rec["time"] for rec in reversed(r.history()) if rec["outcome"] == "ok"]
    assert times == [
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:18:20.000Z",
        "2023-11-14T22:23:20.000Z",
    ]
    assert harness.outcomes(r) == ["ok", "ok", "ok", "skipped_limit"]
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    ex = harness.emitted[0].alert
    assert ex.labels["severity"] == "critical" and ex.labels["action"] == "restart-web"
    assert (
        ex.labels["action_target"] == "web.service" and ex.labels["source_alertname"] == "WebErrors"
    )
    assert "restarted web.service 3 times in the last hour" in ex.annotations["summary"]
    assert ex.annotations["description"].count("- restarted web.service at") == 3
    assert harness.metric("restart-web", "skipped_limit") == 1


def test_limit_is_a_sliding_window_and_acting_resumes_after_it(harness: Harness) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 3600 + 30, step=10)
    # the first run (T0) left the window at T0+1h: one more restart, and the exhausted alert is lowered
    assert len(harness.units.operations()) == 4
    assert harness.emitted_names() == [(EXHAUSTED, "firing"), (EXHAUSTED, "resolved")]
    run_ticks(r, harness.clock, [a], 4200, step=10)
    # the window slides one run at a time: never more than 3 runs in any hour
    runs = [rec["id"] for rec in r.history() if rec["outcome"] == "ok"]
    assert harness.store is not None  # (made by harness.build)
    times = sorted(
        t - T0
        for (t,) in harness.store.query("SELECT time FROM action_history WHERE outcome = 'ok'")
    )
    assert len(runs) == len(times) == 9
    assert times == [0, 300, 600, 3610, 3910, 4210, 7220, 7520, 7820]
    assert harness.emitted_names() == [(EXHAUSTED, "firing"), (EXHAUSTED, "resolved")] * 2


def test_failed_operation_is_recorded_and_counts_against_the_limit(harness: Harness) -> None:
    harness.units.fail["web.service"] = "Job for web.service failed"
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 1000, step=50)
    assert harness.outcomes(r) == ["failed", "failed", "failed", "skipped_limit"]
    assert harness.metric("restart-web", "failed") == 3
    assert r.notes(a.fingerprint)[0] == (
        "failed to restart web.service at 22:13 UTC: Job for web.service failed"
    )


def test_limits_survive_a_daemon_restart(harness: Harness) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 700, step=50)
    assert len(harness.units.operations()) == 3
    r.stop()
    r2 = harness.build(RESTART)  # same state store, fresh runner
    run_ticks(r2, harness.clock, [a], 600, step=50)
    assert len(harness.units.operations()) == 3
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    r2.stop()
    r3 = harness.build(RESTART)  # the exhausted notification is not repeated after a restart
    run_ticks(r3, harness.clock, [a], 300, step=50)
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]


def test_global_cap_on_actions_per_minute(harness: Harness) -> None:
    r = harness.build(RESTART, actions_per_minute=2)
    alerts = [alert(["restart-web"], unit=f"web{i}.service") for i in range(3)]
    r.handle([fire(a, T0) for a in alerts], T0)
    assert harness.outcomes(r) == ["ok", "ok", "rate_limited"]
    assert "global.actions_per_minute (2) reached" in r.history()[0]["detail"]
    run_ticks(r, harness.clock, alerts, 61, step=1)  # the minute passes: the third one runs
    assert [c[1] for c in harness.units.operations()] == [
        "web0.service",
        "web1.service",
        "web2.service",
    ]


def test_a_storm_of_refusals_by_the_global_cap_is_one_row_per_cooldown_and_all_counted(
    harness: Harness,
) -> None:
    r = harness.build(RESTART, actions_per_minute=2)
    alerts = [alert(["restart-web"], unit=f"web{i}.service") for i in range(50)]
    r.handle([fire(a, T0) for a in alerts], T0)
    assert harness.outcomes(r) == ["ok", "ok", "rate_limited"]
    assert harness.metric("restart-web", "rate_limited") == 48
    (row,) = [x for x in r.history() if x["outcome"] == "rate_limited"]
    assert row["target"] == "web2.service"
    assert row["detail"] == (
        "global.actions_per_minute (2) reached; 48 alerts refused since 22:13 UTC, the last on "
        "web49.service"
    )
    later = [alert(["restart-web"], unit=f"db{i}.service") for i in range(5)]
    r.handle([fire(a, T0 + 30) for a in later], T0 + 30)  # within the cooldown: the same row
    assert harness.metric("restart-web", "rate_limited") == 48 + 5
    r.handle([fire(a, T0 + 301) for a in later], T0 + 301)  # after it: a row of its own
    assert harness.outcomes(r) == ["ok", "ok", "rate_limited", "ok", "ok", "rate_limited"]
    assert harness.metric("restart-web", "rate_limited") == 48 + 5 + 3
    assert r.history()[0]["detail"] == (
        "global.actions_per_minute (2) reached; 3 alerts refused since 22:18 UTC, the last on "
        "db4.service"
    )


def test_the_global_cap_counts_an_alert_it_holds_back_once_not_on_every_tick(
    harness: Harness,
) -> None:
    r = harness.build(RESTART, actions_per_minute=2)
    alerts = [alert(["restart-web"], unit=f"web{i}.service") for i in range(50)]
    r.handle([fire(a, T0) for a in alerts], T0)
    run_ticks(r, harness.clock, alerts, 30, step=1)  # each tick decides again: the same refusal
    assert harness.outcomes(r) == ["ok", "ok", "rate_limited"]
    assert harness.metric("restart-web", "rate_limited") == 48
    (row,) = [x for x in r.history() if x["outcome"] == "rate_limited"]
    assert row["detail"] == (
        "global.actions_per_minute (2) reached; 48 alerts refused since 22:13 UTC, the last on "
        "web49.service"
    )


def test_each_alert_held_back_by_the_global_cap_says_so_in_its_notes_and_history(
    harness: Harness,
) -> None:
    r = harness.build(RESTART, actions_per_minute=2)
    alerts = [alert(["restart-web"], unit=f"web{i}.service") for i in range(5)]
    r.handle([fire(a, T0) for a in alerts], T0)
    run_ticks(r, harness.clock, alerts, 10, step=1)
    detail = (
        "global.actions_per_minute (2) reached; 3 alerts refused since 22:13 UTC, the last on "
        "web4.service"
    )
    for a in alerts[2:]:  # the row's own alert (web2) and the ones counted in it
        unit = a.labels["unit"]
        assert r.notes(a.fingerprint) == [
            f"did not restart {unit} at 22:13 UTC: rate limited ({detail})"
        ]
        (rec,) = r.history(a.fingerprint)
        assert (rec["outcome"], rec["target"], rec["fingerprint"], rec["detail"]) == (
            "rate_limited",
            unit,
            a.fingerprint,
            detail,
        )
    assert len([x for x in r.history() if x["outcome"] == "rate_limited"]) == 1  # one row
    assert r.notes(alerts[0].fingerprint) == [
        "restarted web0.service at 22:13 UTC, 1 of 3 in the last hour"
    ]


def test_a_storm_of_skips_logs_its_budget_and_counts_the_rest(harness: Harness) -> None:
    """Each distinct alert whose action is skipped is a history row and a count; its warning
    line keeps within the log budget (journald drops a service's lines past 10,000 in 30 s),
    the rest at debug and counted in `action_skips_not_logged`."""
    from structlog.testing import capture_logs

    from alerter.core.linebudget import BURST

    n = BURST + 300  # skipped well under 300 / RATE = 15 seconds
    r = harness.build(RESTART)
    storm = [alert(["restart-web"], unit="web.service", path=f"/p{i}") for i in range(n + 1)]
    with capture_logs() as logs:
        r.handle([fire(a, T0) for a in storm], T0)
        r.stop()  # tells what is held back
    assert harness.outcomes(r).count("skipped_cooldown") == n  # each in the history
    assert harness.metric("restart-web", "skipped_cooldown") == n
    skipped = [e for e in logs if e["event"] == "action_skipped"]
    warned = sum(e["log_level"] == "warning" for e in skipped)
    assert len(skipped) == n and BURST <= warned < n
    told = [e for e in logs if e["event"] == "action_skips_not_logged"]
    assert sum(e["skipped_cooldown"] for e in told) == n - warned
    assert all(e["actions"] == {"restart-web": e["count"]} for e in told)
