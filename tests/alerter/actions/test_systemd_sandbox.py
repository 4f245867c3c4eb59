"""Actions against a real systemd (the sandbox from tests/conftest.py), through systemctl."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import pytest

from alerter.actions.config import SystemdSpec
from alerter.actions.executors import ActionPlan, ProtectedUnitError, SystemdExecutor
from alerter.actions.notes import EXHAUSTED
from alerter.actions.templating import FieldTemplate
from alerter.actions.unitctl import SystemctlController
from tests.conftest import Sandbox, wait_for

from .conftest import T0, Harness, alert, fire, resolve, run_ticks

pytestmark = pytest.mark.integration

# Sandboxes share the host's cgroup tree: unit names unique to this run keep two runs apart.
U = f"a6-{secrets.token_hex(3)}"


def controller(sb: Sandbox) -> SystemctlController:
    return SystemctlController(prefix=sb.command("systemctl"), timeout=60)


def test_restart_gives_the_unit_a_new_invocation(
    harness: Harness, systemd_sandbox: Sandbox
) -> None:
    sb, web = systemd_sandbox, f"{U}-web.service"
    sb.write_unit(web, "[Service]\nExecStart=/bin/sleep 1000\n")
    sb.systemctl("start", web)
    before = sb.show(web, "InvocationID"), sb.show(web, "ActiveEnterTimestampMonotonic")
    r = harness.build(
        "actions:\n  - {name: restart-web, type: systemd, unit: '{{ labels.unit }}'}\n",
        units=controller(sb),
    )
    a = alert(["restart-web"], unit=f"{U}-web")  # systemctl's short form: .service is implied
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    after = sb.show(web, "InvocationID"), sb.show(web, "ActiveEnterTimestampMonotonic")
    assert after[0] != before[0] and int(after[1]) > int(before[1])
    assert sb.show(web, "ActiveState") == "active"
    assert r.notes(a.fingerprint) == [f"restarted {web} at 22:13 UTC, 1 of 3 in the last hour"]


def test_restart_of_a_missing_unit_fails_with_systemctls_reason(
    harness: Harness, systemd_sandbox: Sandbox
) -> None:
    r = harness.build(
        f"actions:\n  - {{name: restart, type: systemd, unit: {U}-nonexistent.service}}\n",
        units=controller(systemd_sandbox),
    )
    r.handle([fire(alert(["restart"]), T0)], T0)
    assert harness.outcomes(r) == ["failed"]
    assert f"{U}-nonexistent.service not found" in r.history()[0]["detail"]


def test_cpu_quota_is_applied_at_runtime_and_reverted_on_resolve(
    harness: Harness, systemd_sandbox: Sandbox
) -> None:
    sb, cpu = systemd_sandbox, f"{U}-cpu.service"
    sb.write_unit(cpu, "[Service]\nExecStart=/bin/sleep 1000\n")
    sb.systemctl("start", cpu)
    assert sb.show(cpu, "CPUQuotaPerSecUSec") == "infinity"
    r = harness.build(
        f"""
actions:
  - {{name: cpu-web, type: systemd, unit: {cpu}, operation: set-property,
     properties: {{CPUQuota: 20%}}, revert: true}}
""",
        units=controller(sb),
    )
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    assert sb.show(cpu, "CPUQuotaPerSecUSec") == "200ms"
    # --runtime: nothing persisted under /etc
    assert not Path(f"/etc/systemd/system.control/{cpu}.d").exists()
    r.handle([resolve(a, T0 + 120)], T0 + 120)
    assert harness.outcomes(r) == ["ok", "undo_ok"]
    assert sb.show(cpu, "CPUQuotaPerSecUSec") == "infinity"


def test_a_unit_that_keeps_failing_gets_exactly_limit_restarts_then_one_exhausted(
    harness: Harness, systemd_sandbox: Sandbox, tmp_path: Path
) -> None:
    sb, flaky = systemd_sandbox, f"{U}-flaky.service"
    starts = tmp_path / "starts"
    # ExecStartPre has run by the time `systemctl restart` returns: no start goes uncounted
    sb.write_unit(
        flaky,
        f"[Service]\nExecStartPre=/bin/sh -c 'echo started >> {starts}'\nExecStart=/bin/false\n",
    )
    r = harness.build(
        f"""
actions:
  - name: restart-flaky
    type: systemd
    unit: {flaky}
    cooldown: 5m
    limit: {{count: 3, within: 1h}}
""",
        units=controller(sb),
    )
    a = alert(["restart-flaky"], unit=flaky)
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 50 * 60, step=60)  # 50 minutes of a firing alert
    assert starts.read_text().splitlines() == ["started"] * 3
    wait_for(lambda: sb.show(flaky, "ActiveState") == "failed")
    assert harness.outcomes(r) == ["ok", "ok", "ok", "skipped_limit"]
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    assert f"restarted {flaky} 3 times" in harness.emitted[0].alert.annotations["summary"]


def test_signal_to_a_process_of_a_protected_unit_is_refused(
    harness: Harness, systemd_sandbox: Sandbox
) -> None:
    sb, guarded, free = systemd_sandbox, f"{U}-guarded", f"{U}-free"
    builtin = f"systemd-{U}-x"  # protected without being listed: every systemd-* unit is
    for name in (guarded, free, builtin):
        sb.write_unit(
            f"{name}.service",
            f"[Service]\nExecStart=/usr/bin/python3 -c 'import time; time.sleep(1000)' {name}-mark\n",
        )
        sb.systemctl("start", f"{name}.service")
    r = harness.build(
        f"""
actions:
  - {{name: hup-guarded, type: signal, process: '{guarded}-mark$', signal: HUP}}
  - {{name: term-free, type: signal, process: '{free}-mark$', signal: TERM}}
  - {{name: term-builtin, type: signal, process: '{builtin}-mark$', signal: TERM}}
""",
        protected_units=(f"{guarded}.service",),
    )
    wait_for(lambda: sb.show(f"{free}.service", "MainPID") != "0")
    wait_for(lambda: sb.show(f"{builtin}.service", "MainPID") != "0")
    r.handle([fire(alert(["hup-guarded", "term-free", "term-builtin"]), T0)], T0)
    assert r.wait_idle(10)
    outcomes = {x["action"]: (x["outcome"], x["detail"]) for x in r.history()}
    assert outcomes["hup-guarded"][0] == "refused_protected"
    assert f"belongs to {guarded}.service, which is protected" in outcomes["hup-guarded"][1]
    assert outcomes["term-free"][0] == "ok"
    assert outcomes["term-builtin"][0] == "refused_protected"
    assert (
        f"{builtin}.service (of systemd-*), which is protected (built in)"
        in (outcomes["term-builtin"][1])
    )
    assert sb.show(f"{builtin}.service", "ActiveState") == "active"
    assert sb.show(f"{guarded}.service", "ActiveState") == "active"
    wait_for(lambda: sb.show(f"{free}.service", "ActiveState") != "active")


def test_an_alias_of_multi_user_target_is_not_stopped(
    harness: Harness, systemd_sandbox: Sandbox
) -> None:
    # `alerter check` refuses runlevel3.target and knows no alias the operator makes: the
    # run-time check asks systemd for every name of the unit
    sb = systemd_sandbox
    mine = f"{U}-maint.target"
    sb.run("ln", "-s", "/usr/lib/systemd/system/multi-user.target", f"/run/systemd/system/{mine}")
    sb.systemctl("daemon-reload")
    sb.systemctl("start", "multi-user.target")
    assert sb.show(mine, "Id") == "multi-user.target"
    assert "runlevel3.target" in sb.show("multi-user.target", "Names").split()
    r = harness.build(
        f"actions:\n  - {{name: stop-mine, type: systemd, unit: {mine}, operation: stop}}\n",
        units=controller(sb),
    )
    r.handle([fire(alert(["stop-mine"]), T0)], T0)
    assert harness.outcomes(r) == ["refused_protected"]
    assert f"{mine} is also named multi-user.target, which holds" in r.history()[0]["detail"]
    # and a plan that names runlevel3.target (kept in the state from an older alerter)
    executor = SystemdExecutor(controller(sb), frozenset())
    config = r.actions["stop-mine"]
    assert isinstance(config.spec, SystemdSpec)
    spec = dataclasses.replace(config.spec, unit=FieldTemplate("runlevel3.target"))
    stop = dataclasses.replace(config, spec=spec)
    with pytest.raises(ProtectedUnitError, match=r"runlevel3\.target is an alias of multi-user"):
        executor.apply(ActionPlan(stop, "runlevel3.target", alert(["stop-mine"])))
    assert sb.show("multi-user.target", "ActiveState") == "active"
