"""How the action runner runs an action: on the edge it is set for, in a worker the main loop
does not wait for, recorded in the history (and its API) until the retention prunes it; in
dry run decided and noted but never executed; queued work cancelled at stop."""

from __future__ import annotations

import threading

from .conftest import RESTART, T0, BlockingExecutor, Harness, alert, fire, resolve, run_ticks


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


def test_history_older_than_the_retention_is_pruned(harness: Harness) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    r.tick([], T0 + 60)
    assert len(r.history()) == 1
    r.tick([], T0 + 31 * 86400)
    assert r.history() == []
