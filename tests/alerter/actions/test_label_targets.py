"""What label values can make a running action act on: never many units, options, a unit that
changes the host's state or a pidfile outside its directory (invalid_target); a missing label
is an invalid target, and literal units stay as the config says."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from .conftest import RESTART, T0, Harness, alert, fire


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
