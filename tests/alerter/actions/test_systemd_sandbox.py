"""Actions against a real systemd (the sandbox from tests/conftest.py), through systemctl."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.actions.notes import EXHAUSTED
from alerter.unitctl import SystemctlController
from tests.conftest import SANDBOX_TOOL, Sandbox, wait_for

from .conftest import T0, Harness, alert, fire, resolve, run_ticks

pytestmark = pytest.mark.integration


def controller(sb: Sandbox) -> SystemctlController:
    return SystemctlController(prefix=(str(SANDBOX_TOOL), "exec", str(sb.pid), "systemctl"), timeout=60)


def test_restart_gives_the_unit_a_new_invocation(harness: Harness, systemd_sandbox: Sandbox) -> None:
    sb = systemd_sandbox
    sb.write_unit("a6-web.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    sb.systemctl("start", "a6-web.service")
    before = sb.show("a6-web.service", "InvocationID"), sb.show("a6-web.service", "ActiveEnterTimestampMonotonic")
    r = harness.build("actions:\n  - {name: restart-web, type: systemd, unit: '{{ labels.unit }}'}\n",
                      units=controller(sb))
    a = alert(["restart-web"], unit="a6-web")
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    after = sb.show("a6-web.service", "InvocationID"), sb.show("a6-web.service", "ActiveEnterTimestampMonotonic")
    assert after[0] != before[0] and int(after[1]) > int(before[1])
    assert sb.show("a6-web.service", "ActiveState") == "active"
    assert r.notes(a.fingerprint) == ["restarted a6-web.service at 22:13 UTC, 1 of 3 in the last hour"]


def test_restart_of_a_missing_unit_fails_with_systemctls_reason(harness: Harness, systemd_sandbox: Sandbox) -> None:
    r = harness.build("actions:\n  - {name: restart, type: systemd, unit: a6-nonexistent.service}\n",
                      units=controller(systemd_sandbox))
    r.handle([fire(alert(["restart"]), T0)], T0)
    assert harness.outcomes(r) == ["failed"]
    assert "a6-nonexistent.service not found" in r.history()[0]["detail"]


def test_cpu_quota_is_applied_at_runtime_and_reverted_on_resolve(harness: Harness, systemd_sandbox: Sandbox) -> None:
    sb = systemd_sandbox
    sb.write_unit("a6-cpu.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    sb.systemctl("start", "a6-cpu.service")
    assert sb.show("a6-cpu.service", "CPUQuotaPerSecUSec") == "infinity"
    r = harness.build("""
actions:
  - {name: cpu-web, type: systemd, unit: a6-cpu.service, operation: set-property,
     properties: {CPUQuota: 20%}, revert: true}
""", units=controller(sb))
    a = alert(["cpu-web"])
    r.handle([fire(a, T0)], T0)
    assert harness.outcomes(r) == ["ok"]
    assert sb.show("a6-cpu.service", "CPUQuotaPerSecUSec") == "200ms"
    # --runtime: nothing persisted under /etc
    assert not Path("/etc/systemd/system.control/a6-cpu.service.d").exists()
    r.handle([resolve(a, T0 + 120)], T0 + 120)
    assert harness.outcomes(r) == ["ok", "undo_ok"]
    assert sb.show("a6-cpu.service", "CPUQuotaPerSecUSec") == "infinity"


def test_a_unit_that_keeps_failing_gets_exactly_limit_restarts_then_one_exhausted(
    harness: Harness, systemd_sandbox: Sandbox, tmp_path: Path
) -> None:
    sb = systemd_sandbox
    starts = tmp_path / "starts"
    sb.write_unit("a6-flaky.service",
                  f"[Service]\nExecStart=/bin/sh -c 'echo started >> {starts}; exit 1'\n")
    r = harness.build("""
actions:
  - name: restart-flaky
    type: systemd
    unit: a6-flaky.service
    cooldown: 5m
    limit: {count: 3, within: 1h}
""", units=controller(sb))
    a = alert(["restart-flaky"], unit="a6-flaky.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 50 * 60, step=60)  # 50 minutes of a firing alert
    wait_for(lambda: starts.exists() and len(starts.read_text().splitlines()) >= 3)
    assert starts.read_text().splitlines() == ["started"] * 3
    assert sb.show("a6-flaky.service", "ActiveState") == "failed"
    assert harness.outcomes(r) == ["ok", "ok", "ok", "skipped_limit"]
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    assert "restarted a6-flaky.service 3 times" in harness.emitted[0].alert.annotations["summary"]


def test_signal_to_a_process_of_a_protected_unit_is_refused(harness: Harness, systemd_sandbox: Sandbox) -> None:
    sb = systemd_sandbox
    for name in ("a6-guarded", "a6-free"):
        sb.write_unit(f"{name}.service",
                      f"[Service]\nExecStart=/usr/bin/python3 -c 'import time; time.sleep(1000)' {name}-mark\n")
        sb.systemctl("start", f"{name}.service")
    r = harness.build("""
actions:
  - {name: hup-guarded, type: signal, process: 'a6-guarded-mark$', signal: HUP}
  - {name: term-free, type: signal, process: 'a6-free-mark$', signal: TERM}
""", protected_units=("a6-guarded.service",))
    wait_for(lambda: sb.show("a6-free.service", "MainPID") != "0")
    r.handle([fire(alert(["hup-guarded", "term-free"]), T0)], T0)
    assert r.wait_idle(10)
    outcomes = {x["action"]: (x["outcome"], x["detail"]) for x in r.history()}
    assert outcomes["hup-guarded"][0] == "refused_protected"
    assert "belongs to a6-guarded.service, which is protected" in outcomes["hup-guarded"][1]
    assert outcomes["term-free"][0] == "ok"
    assert sb.show("a6-guarded.service", "ActiveState") == "active"
    wait_for(lambda: sb.show("a6-free.service", "ActiveState") != "active")
