"""What the runner refuses at run time because it would touch a protected unit: a templated unit
rendering to one, an alias of one, a unit whose other name holds them, a process of one;
each refusal recorded once per cooldown, not on every tick."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import RESTART, T0, Harness, alert, fire, run_ticks


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
