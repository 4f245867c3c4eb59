"""packaging/alerter.service in a real systemd: start, STATUS, reload good and bad, watchdog, stop."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from alerter.testing import free_port
from tests.conftest import REPO, Sandbox, wait_for

pytestmark = pytest.mark.integration

UNIT = f"alerter-it-{secrets.token_hex(3)}.service"  # sandboxes share the cgroup tree


def _poll(seconds: float, interval: float = 0.2) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield
        time.sleep(interval)


def unit_text(config: Path, workdir: Path, watchdog: str = "10s") -> str:
    """The shipped unit, pointed at this checkout's venv and a test config."""
    exe = str(Path(sys.executable).parent / "alerter")
    text = (REPO / "packaging" / "alerter.service").read_text()
    text = text.replace("/usr/local/bin/alerter", exe).replace(
        "/etc/alerter/config.yaml", str(config)
    )
    text = text.replace("WorkingDirectory=/var/lib/alerter", f"WorkingDirectory={workdir}")
    text = text.replace("WatchdogSec=30s", f"WatchdogSec={watchdog}")
    # The test's files live under /tmp, which PrivateTmp would hide; everything else stays as shipped.
    text = text.replace("PrivateTmp=yes", f"PrivateTmp=no\nReadWritePaths={workdir}")
    return text


def write_config(path: Path, port: int, extra_collector: str = "") -> None:
    path.write_text(
        f"""
global: {{state_dir: {path.parent}/state, evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:{port}"}}
collectors:
  - {{name: demo, type: file, paths: ["{path.parent}/demo.log"], parser: {{type: none}}}}
{extra_collector}
notifiers: [{{name: console, type: console}}]
"""
    )


def status(port: int) -> dict[str, object]:
    r = requests.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=5)
    data: dict[str, object] = r.json()["data"]
    return data


def test_service_lifecycle_in_real_systemd(systemd_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = systemd_sandbox
    port = free_port()
    cfg = tmp_path / "config.yaml"
    write_config(cfg, port)
    (tmp_path / "demo.log").write_text("")
    sb.write_unit(UNIT, unit_text(cfg, tmp_path))

    # start: Type=notify, so `systemctl start` returns once READY=1 arrived
    start = sb.systemctl("start", UNIT, check=False)
    assert start.returncode == 0, sb.run("journalctl", "-u", UNIT, "--no-pager", check=False).stdout
    assert sb.show(UNIT, "ActiveState") == "active"
    assert "1 collector," in sb.show(UNIT, "StatusText")
    assert requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=5).status_code == 200
    first_pid = sb.show(UNIT, "MainPID")

    # good reload: the new collector shows up, same process
    write_config(cfg, port, "  - {name: host, type: host, interval: 5s}")
    sb.systemctl("reload", UNIT)
    wait_for(lambda: status(port)["collectors"] == ["demo", "host"], timeout=20)
    wait_for(lambda: "2 collectors" in sb.show(UNIT, "StatusText"), timeout=10)
    assert sb.show(UNIT, "MainPID") == first_pid

    # bad reload: stays active with the old config, and says so
    cfg.write_text("global: {evaluation_interval: sometimes}\n")
    sb.systemctl("reload", UNIT)
    wait_for(lambda: "reload FAILED" in sb.show(UNIT, "StatusText"), timeout=20)
    assert sb.show(UNIT, "ActiveState") == "active"
    assert status(port)["collectors"] == ["demo", "host"]
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "alerter_config_last_reload_successful 0.0" in metrics

    # a hung main loop (SIGSTOP) gets the service killed by the watchdog and restarted
    write_config(cfg, port)
    hung_invocation = sb.show(UNIT, "InvocationID")
    sb.systemctl("kill", "--signal=SIGSTOP", UNIT)

    def restarted() -> bool:
        state = (sb.show(UNIT, "NRestarts"), sb.show(UNIT, "ActiveState"))
        seen.append(state)
        return state == ("1", "active")

    seen: list[tuple[str, str]] = []
    if not any(restarted() for _ in _poll(30)):
        pytest.fail(f"not restarted by the watchdog; states seen: {sorted(set(seen))}")
    assert sb.show(UNIT, "MainPID") != first_pid
    hung_log = sb.run(
        "journalctl", f"_SYSTEMD_INVOCATION_ID={hung_invocation}", "--no-pager", check=False
    ).stdout
    assert "alerter_started" in hung_log
    assert "alerter_stopping" not in hung_log  # killed by the watchdog, not stopped

    # clean stop: exit 0, Result=success
    sb.systemctl("stop", UNIT)
    assert sb.show(UNIT, "ActiveState") == "inactive"
    assert sb.show(UNIT, "Result") == "success"
    assert sb.show(UNIT, "ExecMainStatus") == "0"


def test_shipped_unit_verifies_clean(tmp_path: Path) -> None:
    unit = tmp_path / "alerter.service"
    unit.write_text(unit_text(tmp_path / "config.yaml", tmp_path))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr
