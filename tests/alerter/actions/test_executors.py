"""What each action type does: set-property and its revert, throttles, commands, signals."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil
import pytest

from alerter.actions import executors
from alerter.core.events import LogBatch
from alerter.runtime.bus import Gate
from tests.conftest import wait_for

from .conftest import T0, Detached, Harness, alert, fire, resolve, run_ticks

CPU = """
actions:
  - {name: cpu-web, type: systemd, unit: web.service, operation: set-property,
     properties: {CPUQuota: 20%, CPUWeight: "50"}, revert: true}
"""


def test_set_property_is_reverted_to_the_values_read_back_before(harness: Harness) -> None:
    harness.units.properties["web.service"] = {
        "CPUQuotaPerSecUSec": "infinity",
        "CPUWeight": "[not set]",
    }
    r = harness.build(CPU)
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    assert harness.units.operations() == [
        ("set-property", "web.service", "CPUQuota=20%", "CPUWeight=50")
    ]
    run_ticks(r, harness.clock, [a], 900, step=60)  # a reverted state is not re-applied
    r.handle([resolve(a, T0 + 1000)], T0 + 1000)
    assert harness.outcomes(r) == ["ok", "undo_ok"]
    assert harness.units.operations()[-1] == (
        "set-property",
        "web.service",
        "CPUQuota=",
        "CPUWeight=",
    )
    assert r.notes(a.fingerprint) == [  # what the resolved notification shows
        "set CPUQuota=20% CPUWeight=50 on web.service at 22:13 UTC, 1 of 3 in the last hour",
        "reverted CPUQuota=20% CPUWeight=50 on web.service at 22:30 UTC",
    ]
    assert r.history()[0]["detail"] == (
        "reverted CPUQuota=20% CPUWeight=50 on web.service: CPUQuota= CPUWeight="
    )


def test_the_revert_is_kept_before_the_property_is_set_so_a_crash_in_between_owes_it(
    harness: Harness,
) -> None:
    from alerter.actions.applied import AppliedStates

    harness.units.properties["web.service"] = {"CPUQuotaPerSecUSec": "infinity"}
    kept_first: list[object] = []
    set_properties = harness.units.set_properties
    killed = threading.Event()

    def crash_after(unit: str, properties: Mapping[str, str]) -> None:
        set_properties(unit, properties)  # systemd took it; then alerter is killed (-9):
        assert harness.store is not None  # (made by harness.build)
        kept_first.extend(e["undo_state"] for e in AppliedStates(harness.store).items().values())
        killed.wait(30)  # nothing after the apply runs while the test looks

    # (the fake's method wrapped, for this runner only; restored below)
    harness.units.set_properties = crash_after  # type: ignore[method-assign]
    r = harness.build(CPU)
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    wait_for(lambda: kept_first)
    assert kept_first == [{"properties": {"CPUQuota": "", "CPUWeight": ""}}]
    harness.units.set_properties = set_properties  # type: ignore[method-assign]  # (restored)
    r2 = harness.build(CPU)  # the restart: the alert resolves, and the revert owed is made
    r2.handle([resolve(a, T0 + 100)], T0 + 100)
    r2.wait_idle()
    assert harness.units.operations()[-1] == (
        "set-property",
        "web.service",
        "CPUQuota=",
        "CPUWeight=",
    )
    killed.set()


def test_set_property_restores_a_previous_quota_as_a_percentage(harness: Harness) -> None:
    harness.units.properties["web.service"] = {
        "CPUQuotaPerSecUSec": "1.500000s",
        "CPUWeight": "200",
    }
    r = harness.build(CPU)
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    r.handle([resolve(a, T0 + 60)], T0 + 60)
    r.wait_idle()
    assert harness.units.operations()[-1] == (
        "set-property",
        "web.service",
        "CPUQuota=150%",
        "CPUWeight=200",
    )


def test_shared_state_is_reverted_only_when_the_last_alert_resolves(harness: Harness) -> None:
    harness.units.properties["web.service"] = {"CPUQuotaPerSecUSec": "infinity"}
    r = harness.build(CPU.replace("revert: true}", "revert: true, cooldown: 0s}"))
    a, b = alert(["cpu-web"], path="/a"), alert(["cpu-web"], path="/b")
    r.handle([fire(a, T0), fire(b, T0 + 1)], T0 + 1)
    r.wait_idle()
    r.handle([resolve(a, T0 + 60)], T0 + 60)
    r.wait_idle()
    assert [c for c in harness.units.operations() if "CPUQuota=" in c] == []
    r.handle([resolve(b, T0 + 120)], T0 + 120)
    r.wait_idle()
    # the revert restores what was there before the first apply, not the throttled value
    assert harness.units.operations()[-1] == (
        "set-property",
        "web.service",
        "CPUQuota=",
        "CPUWeight=",
    )


def test_revert_survives_a_daemon_restart(harness: Harness) -> None:
    harness.units.properties["web.service"] = {"CPUQuotaPerSecUSec": "infinity"}
    r = harness.build(CPU)
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    r.stop()
    r2 = harness.build(CPU)
    r2.handle([resolve(a, T0 + 60)], T0 + 60)
    r2.wait_idle()
    assert harness.units.operations()[-1] == (
        "set-property",
        "web.service",
        "CPUQuota=",
        "CPUWeight=",
    )


def test_dry_run_revert_is_only_noted(harness: Harness) -> None:
    r = harness.build(CPU, dry_run=True)
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    r.handle([resolve(a, T0 + 60)], T0 + 60)
    assert harness.outcomes(r) == ["dry_run", "undo_dry_run"]
    assert harness.units.operations() == []
    assert r.history()[0]["detail"] == "would revert CPUQuota=20% CPUWeight=50 on web.service"


def test_applied_state_no_alert_holds_any_more_is_released(harness: Harness) -> None:
    harness.units.properties["web.service"] = {"CPUQuotaPerSecUSec": "infinity"}
    r = harness.build(CPU)
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    run_ticks(r, harness.clock, [], 30, step=1)  # the alert vanished without a resolve
    assert len(harness.units.operations()) == 1
    run_ticks(r, harness.clock, [], 60, step=1)
    assert harness.units.operations()[-1] == (
        "set-property",
        "web.service",
        "CPUQuota=",
        "CPUWeight=",
    )


def events(n: int) -> LogBatch:
    return LogBatch("app", T0, None, [f"line {i}" for i in range(n)])


@pytest.mark.parametrize(
    ("setting", "check"),
    [
        ("rate: 5/s", lambda g: g.mode == "rate" and g.rate == 5),
        ("sample: 0.25", lambda g: g.mode == "sample" and g.ratio == 0.25),
        ("pause: true", lambda g: g.mode == "pause"),
    ],
)
def test_throttle_sets_the_collector_gate_and_lifts_it_on_resolve(
    harness: Harness, setting: str, check: Callable[[Gate], bool]
) -> None:
    gate = harness.gates["app"] = Gate()
    r = harness.build(f"actions:\n  - {{name: shed, type: throttle, collector: app, {setting}}}\n")
    a = alert(["shed"])
    r.handle([fire(a, T0)], T0)
    r.wait_idle()
    assert check(gate)
    assert len(gate.admit_lines(events(100))) < 100
    r.handle([resolve(a, T0 + 60)], T0 + 60)
    r.wait_idle()
    assert gate.mode == "open" and len(gate.admit_lines(events(100))) == 100
    assert harness.outcomes(r) == ["ok", "undo_ok"]


def test_throttle_is_reapplied_after_a_restart_while_the_alert_fires(harness: Harness) -> None:
    harness.gates["app"] = Gate()
    r = harness.build("actions:\n  - {name: shed, type: throttle, collector: app, pause: true}\n")
    r.handle([fire(alert(["shed"]), T0)], T0)
    r.wait_idle()
    r.stop()
    harness.gates["app"] = Gate()  # a new daemon process: gates start open
    harness.build("actions:\n  - {name: shed, type: throttle, collector: app, pause: true}\n")
    assert harness.gates["app"].mode == "pause"


def test_throttle_of_an_unknown_collector_fails_cleanly(harness: Harness) -> None:
    r = harness.build("actions:\n  - {name: shed, type: throttle, collector: nope, pause: true}\n")
    r.handle([fire(alert(["shed"]), T0)], T0)
    assert harness.outcomes(r) == ["failed"]
    assert "no collector named 'nope'" in r.history()[0]["detail"]


RECORDER = textwrap.dedent("""
    import json, os, sys
    out = {"argv": sys.argv[1:], "stdin": json.loads(sys.stdin.read()),
           "env": {k: v for k, v in os.environ.items() if k.startswith("ALERTER_")}}
    with open(os.environ["ALERTER_LABEL_OUT"], "a") as f:
        f.write(json.dumps(out) + "\\n")
""")


def test_command_gets_templated_argv_alert_json_and_env_and_no_shell(
    harness: Harness, tmp_path: Path
) -> None:
    script = tmp_path / "rec.py"
    script.write_text(RECORDER)
    out = tmp_path / "out.jsonl"
    r = harness.build(f"""
actions:
  - name: ban
    type: command
    argv: [{sys.executable}, {script}, add, "{{{{ labels.ip }}}}"]
    undo_argv: [{sys.executable}, {script}, del, "{{{{ labels.ip }}}}"]
""")
    evil = "1.2.3.4; touch /tmp/pwned-$(id -u) `id`"
    # (a label name that is no identifier goes in as **{...}: mypy cannot tell that this str is
    # not meant for alert()'s state or active_at)
    a = alert(["ban"], ip=evil, out=str(out), **{"client-name": "x"})  # type: ignore[arg-type]
    r.handle([fire(a, T0)], T0)
    r.handle([resolve(a, T0 + 60)], T0 + 60)
    assert harness.outcomes(r) == ["ok", "undo_ok"]
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["argv"] == ["add", evil] and second["argv"] == ["del", evil]
    assert first["stdin"]["labels"]["ip"] == evil and first["stdin"]["state"] == "firing"
    assert second["stdin"]["state"] == "resolved"
    assert first["env"] == {
        "ALERTER_ALERTNAME": "WebErrors",
        "ALERTER_FINGERPRINT": a.fingerprint,
        "ALERTER_STATE": "firing",
        "ALERTER_VALUE": "5",
        "ALERTER_LABEL_ALERTNAME": "WebErrors",
        "ALERTER_LABEL_IP": evil,
        "ALERTER_LABEL_OUT": str(out),
        "ALERTER_LABEL_CLIENT_NAME": "x",
    }
    assert not list(Path("/tmp").glob("pwned-*"))


def test_command_failure_and_timeout_are_failed_outcomes(harness: Harness) -> None:
    r = harness.build(f"""
actions:
  - {{name: bad, type: command, argv: [{sys.executable}, -c, "import sys; print('boom'); sys.exit(3)"]}}
  - {{name: slow, type: command, argv: [/bin/sleep, "30"], timeout: 200ms}}
  - {{name: missing, type: command, argv: [/nonexistent/prog]}}
""")
    r.handle([fire(alert(["bad", "slow", "missing"]), T0)], T0)
    assert harness.outcomes(r) and r.wait_idle(10)
    details = {x["action"]: (x["outcome"], x["detail"]) for x in r.history()}
    assert details["bad"] == ("failed", f"{sys.executable} exited 3: boom")
    assert details["slow"] == ("failed", "/bin/sleep timed out after 0.2s")
    assert (
        details["missing"][0] == "failed"
        and "cannot run /nonexistent/prog" in details["missing"][1]
    )


def test_signal_by_pidfile_and_by_command_line(harness: Harness, tmp_path: Path) -> None:
    tag = f"a6sigre{secrets.token_hex(4)}"  # its own: a signal by pattern reaches every match
    by_pidfile = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", "a6sigpid"]
    )
    by_pattern = Detached.start(tag)  # not alerter's child, which a pattern never reaches
    try:
        pidfile = tmp_path / "app.pid"
        pidfile.write_text(f"{by_pidfile.pid}\n")
        r = harness.build(f"""
actions:
  - {{name: term-app, type: signal, pidfile: {pidfile}, signal: TERM}}
  - {{name: kill-re, type: signal, process: 'sleep\\(300\\) {tag}$', signal: SIGKILL}}
""")
        r.handle([fire(alert(["term-app", "kill-re"]), T0)], T0)
        assert by_pidfile.wait(10) == -15
        wait_for(by_pattern.gone)
        assert r.wait_idle(10)  # (a process gone before its action's detail is recorded)
        details = sorted(x["detail"] for x in r.history())
        assert details == [
            f"sent SIGKILL to process:sleep\\(300\\) {tag}$: SIGKILL to pid {by_pattern.pid}",
            f"sent SIGTERM to {pidfile}: SIGTERM to pid {by_pidfile.pid}",
        ]
    finally:
        by_pattern.kill()
        if by_pidfile.poll() is None:
            by_pidfile.kill()
            by_pidfile.wait()


def test_signal_never_reaches_init_or_alerter_itself(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "one.pid").write_text("1")
    (tmp_path / "me.pid").write_text(str(os.getpid()))
    r = harness.build(f"""
actions:
  - {{name: a, type: signal, pidfile: {tmp_path / "one.pid"}, signal: KILL}}
  - {{name: b, type: signal, pidfile: {tmp_path / "me.pid"}, signal: KILL}}
  - {{name: c, type: signal, pidfile: {tmp_path / "missing.pid"}, signal: KILL}}
""")
    r.handle([fire(alert(["a", "b", "c"]), T0)], T0)
    assert harness.outcomes(r) == ["failed"] * 3
    assert any("cannot read pidfile" in x["detail"] for x in r.history())


def test_a_process_pattern_never_reaches_alerter_s_own_children(harness: Harness) -> None:
    # outside systemd no protected unit holds alerter's journalctl or helper: a pattern that
    # matches them as well as the process it aims at must still spare them
    tag = f"a6sigown{secrets.token_hex(4)}"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", tag])
    grandchild = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run(sys.argv[1:])",
            sys.executable,
            "-c",
            "import time; time.sleep(300)",
            tag,
        ]
    )
    other = Detached.start(tag)
    try:
        wait_for(lambda: len([p for p in psutil.pids() if _cmdline_ends(p, tag)]) == 4)
        r = harness.build(f"""
actions:
  - {{name: term, type: signal, process: '{tag}$', signal: TERM}}
""")
        r.handle([fire(alert(["term"]), T0)], T0)
        assert harness.outcomes(r) == ["ok"]
        (detail,) = [x["detail"] for x in r.history()]
        assert detail.endswith(f": SIGTERM to pid {other.pid}")
        wait_for(other.gone)
        assert child.poll() is None and grandchild.poll() is None
    finally:
        other.kill()
        for p in (child, grandchild):
            for q in psutil.Process(p.pid).children(recursive=True) if p.poll() is None else []:
                q.kill()
            p.kill()
            p.wait()


def _cmdline_ends(pid: int, tag: str) -> bool:
    try:
        return psutil.Process(pid).cmdline()[-1:] == [tag]
    except psutil.Error:
        return False


def test_command_timeout_kills_the_whole_process_group(harness: Harness, tmp_path: Path) -> None:
    gpid = tmp_path / "gpid"
    r = harness.build(f"""
actions:
  - name: hang
    type: command
    argv: [/bin/sh, -c, "sleep 60 & echo $! > {gpid}; wait"]
    timeout: 300ms
""")
    r.handle([fire(alert(["hang"]), T0)], T0)
    assert harness.outcomes(r) == ["failed"]
    pid = int(gpid.read_text())
    wait_for(
        lambda: (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        )
    )


@pytest.mark.parametrize(
    ("path", "why"),
    [
        (["systemd-logind.service"], "systemd-logind.service (of systemd-*), which is protected"),
        (["dbus-broker.service"], "dbus-broker.service, which is protected (built in)"),
        (["getty@tty1.service"], "getty@tty1.service (of getty@.service), which is protected"),
        # a user's manager: the unit its cgroup is under (init.scope inside user@1000.service)
        (["user@1000.service", "init.scope"], "user@1000.service (of user@.service), which is"),
    ],
)
def test_signal_to_a_process_of_a_built_in_protected_unit_is_refused(
    harness: Harness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: list[str],
    why: str,
) -> None:
    # protected whatever global.protected_units says (DESIGN: systemd-*, dbus, ...)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        (tmp_path / "app.pid").write_text(f"{proc.pid}\n")
        monkeypatch.setattr(executors, "units_of_pid", lambda pid: path)
        monkeypatch.setattr(executors, "own_units", frozenset)  # (not cached from the fake)
        r = harness.build(f"""
actions:
  - {{name: hup, type: signal, pidfile: {tmp_path / "app.pid"}, signal: TERM}}
""")
        r.handle([fire(alert(["hup"]), T0)], T0)
        assert harness.outcomes(r) == ["refused_protected"]
        (detail,) = [x["detail"] for x in r.history()]
        assert f"pid {proc.pid} belongs to {why}" in detail
        assert proc.poll() is None  # not signalled
    finally:
        proc.kill()
        proc.wait()


def test_a_signal_skips_the_processes_of_protected_units_and_reaches_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = f"a6sigmixed{secrets.token_hex(4)}"
    procs = [Detached.start(tag) for _ in range(2)]
    guarded = procs[0].pid
    try:
        units = {guarded: ["dbus.service"]}
        monkeypatch.setattr(executors, "units_of_pid", lambda pid: units.get(pid, ["web.service"]))
        monkeypatch.setattr(executors, "own_units", frozenset)
        r = harness.build(f"""
actions:
  - {{name: term, type: signal, process: '{tag}$', signal: TERM}}
""")
        r.handle([fire(alert(["term"]), T0)], T0)
        assert harness.outcomes(r) == ["ok"]
        wait_for(procs[1].gone)
        assert not procs[0].gone()
        (detail,) = [x["detail"] for x in r.history()]
        assert f"(not pid {guarded} belongs to dbus.service, which is protected" in detail
    finally:
        for p in procs:
            p.kill()
