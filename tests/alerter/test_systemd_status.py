"""The shipped unit in a real systemd: STATUS= follows the alerts (right after a reload too),
and a normal stop ends the journalctl helper without a warning."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from alerter.testing import free_port
from tests.alerter.test_systemd_service import unit_text
from tests.conftest import Sandbox, wait_for

pytestmark = pytest.mark.integration

UNIT = f"alerter-st-{secrets.token_hex(3)}.service"  # sandboxes share the cgroup tree


def write_config(path: Path, port: int) -> None:
    (path.parent / "rules.yaml").write_text(
        """
groups:
  - name: app
    interval: 1s
    rules:
      - alert: AppErrors
        logs: {source: demo, match: ERROR}
        aggregate: count
        over: 1h
        threshold: ">= 1"
"""
    )
    path.write_text(
        f"""
global: {{state_dir: {path.parent}/state, evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:{port}"}}
collectors:
  - {{name: demo, type: file, paths: ["{path.parent}/demo.log"], parser: {{type: none}}}}
  - {{name: journal, type: journald}}
rule_files: [rules.yaml]
notifiers: [{{name: console, type: console}}]
"""
    )


def test_status_follows_alerts_and_a_stop_is_quiet(
    systemd_sandbox: Sandbox, tmp_path: Path
) -> None:
    sb = systemd_sandbox
    cfg = tmp_path / "config.yaml"
    write_config(cfg, free_port())
    (tmp_path / "demo.log").write_text("")
    sb.write_unit(UNIT, unit_text(cfg, tmp_path))
    start = sb.systemctl("start", UNIT, check=False)
    assert start.returncode == 0, sb.run("journalctl", "-u", UNIT, "--no-pager", check=False).stdout
    invocation = sb.show(UNIT, "InvocationID")
    assert "0 firing" in sb.show(UNIT, "StatusText")

    with (tmp_path / "demo.log").open("a") as f:
        f.write("ERROR one\n")
    # without a reload: the line follows the alert
    wait_for(lambda: "1 firing" in sb.show(UNIT, "StatusText"), timeout=20)

    sb.systemctl("reload", UNIT)
    seen = []

    def reloaded() -> bool:
        text = sb.show(UNIT, "StatusText")
        seen.append(text)
        return sb.show(UNIT, "ActiveState") == "active" and "reload" not in text and len(seen) > 3

    wait_for(reloaded, timeout=20)
    assert all("0 firing" not in s for s in seen), seen

    sb.systemctl("stop", UNIT)
    assert sb.show(UNIT, "Result") == "success"
    log = sb.run(
        "journalctl", f"_SYSTEMD_INVOCATION_ID={invocation}", "--no-pager", check=False
    ).stdout
    assert "alerter_stopped" in log
    assert "journalctl_exited" not in log, log
