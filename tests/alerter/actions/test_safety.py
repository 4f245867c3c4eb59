"""The safety rules of the action runner, with fake units and a fixed clock."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from alerter.actions.executors import ActionPlan
from alerter.actions.notes import EXHAUSTED, INEFFECTIVE
from alerter.rules.alert import Alert

from .conftest import T0, Harness, alert, fire, resolve, run_ticks

RESTART = """
actions:
  - name: restart-web
    type: systemd
    unit: "{{ labels.unit }}"
    cooldown: 5m
    limit: {count: 3, within: 1h}
"""


def test_firing_restarts_the_unit_and_records_it(harness: Harness) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    assert harness.units.operations() == [("restart", "web.service")]
    assert harness.metric("restart-web", "ok") == 1
    (rec,) = r.history(a.fingerprint)
    assert rec["target"] == "web.service" and rec["dryRun"] is False
    assert rec["time"] == "2023-11-14T22:13:20.000Z"
    assert r.notes(a.fingerprint) == ["restarted web.service at 22:13 UTC, 1 of 3 in the last hour"]


def test_global_dry_run_decides_and_notes_but_never_executes(harness: Harness) -> None:
    r = harness.build(RESTART, dry_run=True)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["dry_run"]
    assert harness.units.operations() == []
    assert harness.metric("restart-web", "dry_run") == 1
    assert r.notes(a.fingerprint) == [
        "would restart web.service at 22:13 UTC (dry run), 1 of 3 in the last hour"
    ]


def test_per_action_dry_run(harness: Harness) -> None:
    r = harness.build(RESTART.replace("cooldown: 5m", "cooldown: 5m\n    dry_run: true"))
    r.handle([fire(alert(["restart-web"], unit="web.service"), T0)], T0)
    assert harness.outcomes(r) == ["dry_run"] and harness.units.operations() == []


def test_dry_run_limits_behave_as_real_ones_would(harness: Harness) -> None:
    r = harness.build(RESTART, dry_run=True)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 3 * 300, step=30)
    assert harness.outcomes(r) == ["dry_run"] * 3 + ["skipped_limit"]
    assert harness.units.operations() == []


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
    times = sorted(
        t - T0
        for (t,) in harness.store.query(  # type: ignore[union-attr]
            "SELECT time FROM action_history WHERE outcome = 'ok'"
        )
    )
    assert len(runs) == len(times) == 9
    assert times == [0, 300, 600, 3610, 3910, 4210, 7220, 7520, 7820]
    assert harness.emitted_names() == [(EXHAUSTED, "firing"), (EXHAUSTED, "resolved")] * 2


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


def test_templated_unit_rendering_to_a_protected_unit_is_refused_at_run_time(
    harness: Harness,
) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="ssh")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 590, step=10)
    assert harness.units.operations() == []
    # recorded once per cooldown, not on every tick
    assert harness.outcomes(r) == ["refused_protected", "refused_protected"]
    assert "ssh.service is protected" in r.history()[0]["detail"]
    assert harness.metric("restart-web", "refused_protected") == 2


def test_an_alias_of_a_protected_unit_is_refused_as_the_unit_it_names(harness: Harness) -> None:
    # dbus-org.freedesktop.login1.service is systemd-logind.service; a log line naming the alias
    # restarted logind through it
    harness.units.properties["dbus-org.freedesktop.login1.service"] = {
        "Id": "systemd-logind.service",
        "Names": "systemd-logind.service dbus-org.freedesktop.login1.service",
    }
    harness.units.properties["web.service"] = {"Id": "web.service", "Names": "web.service"}
    r = harness.build(RESTART)
    bad = alert(["restart-web"], unit="dbus-org.freedesktop.login1")
    good = alert(["restart-web"], unit="web", host="b")
    r.handle([fire(bad, T0), fire(good, T0)], T0)
    run_ticks(r, harness.clock, [bad, good], 20, step=10)
    assert [op[1] for op in harness.units.operations()] == ["web.service"]
    refused = [x for x in r.history() if x["outcome"] == "refused_protected"]
    assert refused and all("systemd-logind.service" in x["detail"] for x in refused)


def test_a_unit_whose_other_name_holds_protected_units_is_refused_at_run_time(
    harness: Harness,
) -> None:
    # an alias the operator made (or a name a persisted plan kept) of multi-user.target:
    # stopping it stops ssh, the gettys ... as stopping multi-user.target would
    harness.units.properties["maintenance.target"] = {
        "Id": "multi-user.target",
        "Names": "multi-user.target runlevel3.target maintenance.target",
    }
    harness.units.properties["backup.target"] = {"Id": "backup.target", "Names": "backup.target"}
    r = harness.build(
        "actions:\n  - {name: stop-m, type: systemd, unit: maintenance.target, operation: stop}\n"
        "  - {name: stop-b, type: systemd, unit: backup.target, operation: stop}\n"
    )
    r.handle([fire(alert(["stop-m", "stop-b"]), T0)], T0)
    assert sorted(harness.outcomes(r)) == ["ok", "refused_protected"]
    assert harness.units.operations() == [("stop", "backup.target")]
    refused = [x["detail"] for x in r.history() if x["outcome"] == "refused_protected"]
    assert refused == [
        "maintenance.target is also named multi-user.target, which holds protected units "
        "(the gettys, user managers, ssh, dbus, systemd-*); alerter will not stop it"
    ]


def test_a_cap_on_a_unit_whose_other_name_holds_protected_units_is_applied(
    harness: Harness,
) -> None:
    harness.units.properties["sessions.slice"] = {"Id": "user.slice", "Names": "user.slice"}
    r = harness.build(
        "actions:\n  - {name: cap, type: systemd, unit: sessions.slice, operation: set-property,"
        " properties: {CPUQuota: 50%}}\n"
    )
    r.handle([fire(alert(["cap"]), T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    assert harness.units.operations() == [("set-property", "sessions.slice", "CPUQuota=50%")]


def test_label_values_cannot_select_many_units_or_pass_options(harness: Harness) -> None:
    r = harness.build(RESTART)
    bad = ["*", "web@*.service", "--all", "a b", "web.service.", "web..service"]
    for i, unit in enumerate(bad):
        r.handle([fire(alert(["restart-web"], unit=unit), T0 + i)], T0 + i)
    assert harness.outcomes(r) == ["invalid_target"] * len(bad)
    assert harness.units.operations() == []


def test_missing_label_is_an_invalid_target_not_an_empty_unit(harness: Harness) -> None:
    r = harness.build(RESTART)
    r.handle([fire(alert(["restart-web"]), T0)], T0)
    assert harness.outcomes(r) == ["invalid_target"]
    assert "'dict object' has no attribute 'unit'" in r.history()[0]["detail"]


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


def test_verify_escalates_once_with_the_history_when_the_alert_does_not_resolve(
    harness: Harness,
) -> None:
    r = harness.build(RESTART.replace("cooldown: 5m", "cooldown: 5m\n    verify: 2m"))
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 119, step=1)
    assert harness.emitted == []
    run_ticks(r, harness.clock, [a], 600, step=1)
    assert harness.emitted_names() == [(INEFFECTIVE, "firing")]
    esc = harness.emitted[0].alert
    assert esc.annotations["summary"] == "WebErrors still firing 2m after restarted web.service"
    assert "- restarted web.service at 22:13 UTC" in esc.annotations["description"]
    r.handle([resolve(a, harness.clock.now())], harness.clock.now())
    assert harness.emitted_names() == [(INEFFECTIVE, "firing"), (INEFFECTIVE, "resolved")]
    assert harness.emitted[1].alert.fingerprint == esc.fingerprint


def test_verify_passes_when_the_alert_resolves_in_time(harness: Harness) -> None:
    r = harness.build(RESTART.replace("cooldown: 5m", "cooldown: 5m\n    verify: 2m"))
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 60, step=10)
    r.handle([resolve(a, harness.clock.now())], harness.clock.now())
    run_ticks(r, harness.clock, [], 600, step=10)
    assert harness.emitted == []


def test_on_resolved_actions_run_on_the_other_edge(harness: Harness) -> None:
    r = harness.build("""
actions:
  - {name: start-web, type: systemd, unit: web.service, operation: start, on: resolved}
""")
    a = alert(["start-web"])
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 600, step=60)
    assert harness.units.operations() == []
    r.handle([resolve(a, harness.clock.now())], harness.clock.now())
    r.wait_idle()
    assert harness.units.operations() == [("start", "web.service")]


class BlockingExecutor:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def undo_state(self, plan: ActionPlan) -> None:
        return None

    def apply(self, plan: ActionPlan) -> tuple[str, Mapping[str, Any]]:
        self.started.set()
        self.release.wait(10)
        return "done", {}

    def undo(self, plan: ActionPlan) -> str:
        return ""


def test_handle_does_not_wait_for_the_work(harness: Harness) -> None:
    slow = BlockingExecutor()
    r = harness.build(RESTART, executors={"systemd": slow})
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)  # returns while the executor is still blocked
    assert slow.started.wait(5)
    assert not r.idle()
    assert [x["outcome"] for x in r.history()] == ["running"]
    assert r.notes(a.fingerprint) == [
        "restarted web.service at 22:13 UTC (in progress), 1 of 3 in the last hour"
    ]
    slow.release.set()
    assert harness.outcomes(r) == ["ok"]


def test_stop_marks_queued_work_as_cancelled(harness: Harness) -> None:
    slow = BlockingExecutor()
    r = harness.build(RESTART, executors={"systemd": slow})
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    assert slow.started.wait(5)
    r.handle([fire(alert(["restart-web"], unit="web.service", x="2"), T0 + 400)], T0 + 400)
    threading.Timer(0.2, slow.release.set).start()
    r.stop()
    outcomes = sorted(x["outcome"] + ":" + x["detail"][:9] for x in r.history())
    assert outcomes == ["failed:cancelled", "ok:restarted"]


def test_api_route_lists_the_history(harness: Harness) -> None:
    from alerter.actions.api import routes
    from alerter.api.routes import Request

    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    (route,) = routes(r)
    assert route.match("GET", "/api/v1/actions") == {}
    resp = route.handler(Request("GET", "/api/v1/actions", {"fingerprint": [a.fingerprint]}, {}))
    import json

    data = json.loads(resp.body)["data"]
    assert [(d["action"], d["target"], d["outcome"]) for d in data] == [
        ("restart-web", "web.service", "ok")
    ]
    assert set(data[0]) == {
        "id",
        "time",
        "action",
        "target",
        "fingerprint",
        "alertname",
        "outcome",
        "dryRun",
        "detail",
    }
    r.handle([fire(alert(["restart-web"], unit="db.service"), T0)], T0)
    r.wait_idle()
    resp = route.handler(Request("GET", "/api/v1/actions", {"limit": ["1"]}, {}))
    assert [d["target"] for d in json.loads(resp.body)["data"]] == ["db.service"]
    import pytest

    from alerter.api.routes import HTTPError

    with pytest.raises(HTTPError) as e:
        route.handler(Request("GET", "/api/v1/actions", {"limit": ["lots"]}, {}))
    assert e.value.status == 400


def test_exhausted_in_dry_run_says_so_and_is_labelled(harness: Harness) -> None:
    r = harness.build(RESTART, dry_run=True)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 3 * 300, step=30)
    (t,) = harness.emitted
    assert t.alert.labels["dry_run"] == "true"
    assert t.alert.annotations["summary"].endswith("(dry run)")
    assert (
        "- would restart web.service at 22:13 UTC (dry run)" in t.alert.annotations["description"]
    )


def test_history_older_than_the_retention_is_pruned(harness: Harness) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    r.tick([], T0 + 60)
    assert len(r.history()) == 1
    r.tick([], T0 + 31 * 86400)
    assert r.history() == []


def test_verify_deadline_survives_a_reload(harness: Harness) -> None:
    text = RESTART.replace("cooldown: 5m", "cooldown: 5m\n    verify: 2m")
    r = harness.build(text)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 60, step=10)
    r.stop()
    r2 = harness.build(text)  # SIGHUP: a new runner on the same store
    run_ticks(r2, harness.clock, [a], 120, step=10)
    assert harness.emitted_names() == [(INEFFECTIVE, "firing")]
    assert harness.emitted[0].alert.labels["source_alertname"] == "WebErrors"
    r2.stop()
    r3 = harness.build(text)  # escalated once per firing, also across reloads
    run_ticks(r3, harness.clock, [a], 300, step=10)
    assert harness.emitted_names() == [(INEFFECTIVE, "firing")]


HOSTILE_UNITS = {
    "reboot.target": "invalid_target",
    "poweroff.target": "invalid_target",
    "halt.target": "invalid_target",
    "kexec.target": "invalid_target",
    "ctrl-alt-del.target": "invalid_target",
    "system.slice": "invalid_target",
    "user.slice": "invalid_target",
    "home.mount": "invalid_target",
    "dbus.socket": "refused_protected",
    "systemd-journald.socket": "refused_protected",
    "ssh.socket": "refused_protected",
    "systemd-reboot.service": "refused_protected",
}


def test_label_values_cannot_steer_a_templated_unit_at_the_host(harness: Harness) -> None:
    r = harness.build(RESTART)
    for i, unit in enumerate(HOSTILE_UNITS):
        r.handle([fire(alert(["restart-web"], unit=unit), T0 + i)], T0 + i)
    r.handle([fire(alert(["restart-web"], unit="web"), T0 + 50)], T0 + 50)
    assert harness.outcomes(r) == [*HOSTILE_UNITS.values(), "ok"]
    assert harness.units.operations() == [("restart", "web.service")]  # only the plain service
    details = {x["detail"].split(" ")[0]: x for x in r.history()}
    assert details["reboot.target"]["detail"] == (
        "reboot.target is a target unit, which changes the host's state: a templated unit must "
        "render to a service (NAME or NAME.service)"
    )
    assert details["dbus.socket"]["detail"] == (
        "dbus.socket belongs to dbus.service, which is protected (built in); "
        "alerter will not act on it"
    )
    # the history's target is the template: nothing a label chose is recorded as acted on
    assert details["home.mount"]["target"] == "{{ labels.unit }}"
    assert harness.metric("restart-web", "invalid_target") == 8
    assert harness.metric("restart-web", "refused_protected") == 4


def test_literal_units_stay_as_the_config_says(harness: Harness) -> None:
    r = harness.build("""
actions:
  - {name: slice-cpu, type: systemd, unit: user.slice, operation: set-property,
     properties: {CPUQuota: 50%}}
""")
    r.handle([fire(alert(["slice-cpu"]), T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    assert harness.units.operations() == [("set-property", "user.slice", "CPUQuota=50%")]


def test_a_templated_pidfile_cannot_reach_outside_its_directory(
    harness: Harness, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    procs = {
        tag: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", tag])
        for tag in ("inside", "victim")
    }
    try:
        (run / "app.pid").write_text(f"{procs['inside'].pid}\n")
        (outside / "victim.pid").write_text(f"{procs['victim'].pid}\n")
        (run / "evil.pid").symlink_to(outside / "victim.pid")  # a real symlink pointing outside
        r = harness.build(f"""
actions:
  - {{name: term, type: signal, signal: TERM, pidfile: "{run}/{{{{ labels.app }}}}.pid"}}
""")
        hostile = ["evil", "../outside/victim", f"x/..{outside}/victim", "app\n", "app\x00"]
        for i, app in enumerate(hostile):
            r.handle([fire(alert(["term"], app=app), T0 + i)], T0 + i)
        assert harness.outcomes(r) == ["invalid_target"] * len(hostile)
        details = [x["detail"] for x in reversed(r.history())]
        assert details[0] == (
            f"{run}/evil.pid resolves to {outside}/victim.pid, outside {run} (a symlink?)"
        )
        assert "may not hold '..'" in details[1] and "may not hold '..'" in details[2]
        assert all("control character" in d for d in details[3:])
        r.handle([fire(alert(["term"], app="app"), T0 + 10)], T0 + 10)
        assert harness.outcomes(r)[-1] == "ok"
        assert procs["inside"].wait(10) == -signal.SIGTERM
        assert procs["victim"].poll() is None  # never signalled
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


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
    r.firings.fired(a.fingerprint, T0, keep=True)
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


def test_a_refusal_found_at_run_time_is_recorded_once_per_cooldown_not_every_tick(
    harness: Harness,
) -> None:
    # the alias is only found protected when the run asks systemd for the unit's names
    harness.units.properties["dbus-org.freedesktop.login1.service"] = {
        "Id": "systemd-logind.service",
        "Names": "systemd-logind.service dbus-org.freedesktop.login1.service",
    }
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="dbus-org.freedesktop.login1")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 590, step=10)
    assert harness.units.operations() == []
    # as a refusal found when the unit is rendered (ssh): at T0 and a cooldown later
    assert harness.outcomes(r) == ["refused_protected", "refused_protected"]
    assert [x["time"] for x in reversed(r.history())] == [
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:18:20.000Z",
    ]
    assert harness.metric("restart-web", "refused_protected") == 2


def test_a_signal_refused_at_run_time_is_recorded_once_per_cooldown(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alerter.actions import executors

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        (tmp_path / "app.pid").write_text(f"{proc.pid}\n")
        monkeypatch.setattr(executors, "units_of_pid", lambda pid: ["dbus.service"])
        monkeypatch.setattr(executors, "own_units", frozenset)
        r = harness.build(f"""
actions:
  - {{name: hup, type: signal, pidfile: {tmp_path / "app.pid"}, signal: HUP, cooldown: 2m}}
""")
        a = alert(["hup"])
        r.handle([fire(a, T0)], T0)
        run_ticks(r, harness.clock, [a], 230, step=5)
        assert harness.outcomes(r) == ["refused_protected", "refused_protected"]
        assert harness.metric("hup", "refused_protected") == 2
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


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
