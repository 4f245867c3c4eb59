"""End to end in a real systemd: the whole daemon runs as a unit inside the sandbox, reads a
service's errors, fires, restarts / throttles, and notifies a loopback receiver.

The sandbox shares /tmp, the checkout and the loopback network with the test, so the test writes
log lines and config files directly and receives the notifications itself.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.testing import free_port
from tests.conftest import REPO, HTTPReceiver, Sandbox, wait_for

pytestmark = pytest.mark.integration

ALERTER = REPO / ".venv" / "bin" / "alerter"
# Sandboxes share the host's cgroup tree: unit names unique to this run keep two runs apart.
RUN = secrets.token_hex(3)
ALERTER_UNIT, WEB, CPU = (f"a6-{RUN}-{n}.service" for n in ("alerter", "web", "cpu"))


@dataclass
class Daemon:
    sb: Sandbox
    unit: str
    port: int
    dir: Path
    started: float

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            body = r.read()
        return json.loads(body) if path.startswith("/api") else body.decode()

    def actions(self) -> list[dict[str, Any]]:
        try:
            return list(reversed(self.get("/api/v1/actions")["data"]))
        except OSError:
            return []

    def metric(self, name: str, **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.get("/metrics").splitlines():
            key, _, value = line.rpartition(" ")
            if key == (f"{name}{{{want}}}" if labels else name):
                return float(value)
        return 0.0

    def journal(self) -> str:
        return self.sb.run(
            "journalctl",
            "-u",
            self.unit,
            f"--since=@{int(self.started)}",
            "--no-pager",
            "-o",
            "cat",
            check=False,
        ).stdout


def daemon_unit(config: Path) -> str:
    """The unit running the whole daemon in the sandbox on `config` (Type=notify, JSON logs)."""
    return textwrap.dedent(f"""
        [Service]
        Type=notify
        NotifyAccess=main
        ExecStart={ALERTER} run -c {config} --log-format json
        """)


@contextlib.contextmanager
def running_daemon(sb: Sandbox, unit: str, config: Path, port: int) -> Iterator[Daemon]:
    """The whole daemon as `unit` of the sandbox on `config` (listening on `port`), once ready;
    stopped after, its journal printed (pytest shows it when the test fails)."""
    sb.write_unit(unit, daemon_unit(config))
    d = Daemon(sb, unit, port, config.parent, time.time() - 1)
    sb.systemctl("start", unit)
    try:
        wait_for(lambda: d.get("/-/ready") is not None, timeout=30)
        yield d
    finally:
        print(f"--- journal of {unit} (shown when the test fails) ---")
        print(d.journal()[-20000:])
        sb.systemctl("stop", unit, check=False)


def start_daemon(
    sb: Sandbox,
    tmp: Path,
    rules: str,
    actions: list[dict[str, Any]],
    collectors: list[dict[str, Any]],
    receiver: HTTPReceiver,
) -> Daemon:
    port = free_port()
    (tmp / "rules.yaml").write_text(textwrap.dedent(rules).replace("WEB_UNIT", WEB))
    config = {
        "global": {
            "state_dir": f"{tmp}/state",
            "evaluation_interval": "1s",
            "external_url": f"http://127.0.0.1:{port}",
        },
        "server": {"listen": f"127.0.0.1:{port}"},
        "collectors": [
            c
            if "type" in c
            else {"type": "file", "start_at": "end", "parser": {"type": "none"}, **c}
            for c in collectors
        ],
        "rule_files": ["rules.yaml"],
        "notifiers": [
            {"name": "hook", "type": "webhook", "url": f"{receiver.url}/hook"},
            {
                "name": "chat",
                "type": "slack",
                "webhook_url": f"{receiver.url}/slack",
                "send_resolved": True,
            },
        ],
        "route": {
            "receiver": "hook",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [
                {"matchers": ['alertname=~".+"'], "receiver": "hook", "continue": True},
                {"matchers": ['alertname=~".+"'], "receiver": "chat"},
            ],
        },
        "actions": actions,
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    check = sb.run(str(ALERTER), "check", "-c", str(tmp / "config.yaml"), check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = ALERTER_UNIT
    sb.write_unit(unit, daemon_unit(tmp / "config.yaml"))
    started = time.time() - 1
    sb.systemctl("start", unit)
    d = Daemon(sb, unit, port, tmp, started)
    wait_for(lambda: d.get("/-/ready") is not None, timeout=30)
    return d


@pytest.fixture
def stop_daemon() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        print(f"--- journal of {d.unit} (shown when the test fails) ---")
        print(d.journal()[-20000:])
        d.sb.systemctl("stop", d.unit, check=False)


def hooks(receiver: HTTPReceiver, path: str) -> list[dict[str, Any]]:
    return [r.json() for r in list(receiver.requests) if r.path == path]


def alert_states(receiver: HTTPReceiver, alertname: str) -> list[str]:
    return [
        a["status"]
        for body in hooks(receiver, "/hook")
        for a in body["alerts"]
        if a["labels"]["alertname"] == alertname
    ]


FLAKY = """
    #!/bin/sh
    # Logs to the journal. Broken on its first start (errors every 0.1 s), healthy after a restart.
    if [ -e {dir}/broken ]; then
      rm -f {dir}/broken
      while true; do echo "ERROR backend unreachable"; sleep 0.1; done
    fi
    echo "INFO started" >> {dir}/starts
    while true; do echo "INFO ok"; sleep 1; done
"""


def restart_web(cooldown: str) -> dict[str, Any]:
    return {
        "name": "restart-web",
        "type": "systemd",
        "unit": "{{ labels.unit }}",
        "cooldown": cooldown,
        "limit": {"count": 3, "within": "1h"},
    }


WEB_RULES = """
    groups:
      - name: web
        interval: 1s
        rules:
          - alert: WebErrors
            logs: {source: web, match: 'ERROR'}
            aggregate: count
            over: 3s
            threshold: ">= 5"
            labels: {severity: critical, unit: WEB_UNIT}
            annotations: {summary: "{{ labels.unit }} logs errors"}
            actions: [restart-web]
"""


def test_flaky_service_logging_to_the_journal_is_restarted_and_the_alert_resolves(
    systemd_sandbox: Sandbox, http_receiver: HTTPReceiver, tmp_path: Path, stop_daemon: list[Daemon]
) -> None:
    sb = systemd_sandbox
    (tmp_path / "web.sh").write_text(textwrap.dedent(FLAKY.format(dir=tmp_path)).lstrip())
    (tmp_path / "broken").touch()
    sb.write_unit(WEB, f"[Service]\nExecStart=/bin/sh {tmp_path}/web.sh\n")
    d = start_daemon(
        sb,
        tmp_path,
        WEB_RULES,
        [restart_web("1m")],
        [{"name": "web", "type": "journald", "units": [WEB]}],
        http_receiver,
    )
    stop_daemon.append(d)
    sb.systemctl("start", WEB)

    wait_for(lambda: alert_states(http_receiver, "WebErrors")[-1:] == ["resolved"], timeout=60)
    assert alert_states(http_receiver, "WebErrors") == ["firing", "resolved"]
    assert (tmp_path / "starts").read_text().splitlines() == [
        "INFO started"
    ]  # healthy after one restart
    history = d.actions()
    assert [(h["action"], h["target"], h["outcome"]) for h in history] == [
        ("restart-web", WEB, "ok")
    ]
    assert d.metric("alerter_actions_total", action="restart-web", outcome="ok") == 1
    # the chat notifications carry the action note, firing and resolved
    texts = [json.dumps(b) for b in hooks(http_receiver, "/slack")]
    assert len(texts) == 2
    assert all(f"restarted {WEB} at" in t and "1 of 3 in the last hour" in t for t in texts)


def test_service_that_keeps_failing_gets_limit_restarts_then_one_exhausted_notification(
    systemd_sandbox: Sandbox, http_receiver: HTTPReceiver, tmp_path: Path, stop_daemon: list[Daemon]
) -> None:
    sb = systemd_sandbox
    script = tmp_path / "web.sh"
    script.write_text(
        textwrap.dedent(f"""
        #!/bin/sh
        echo started >> {tmp_path}/starts
        while true; do echo "ERROR backend unreachable" >> {tmp_path}/web.log; sleep 0.1; done
        """).lstrip()
    )
    (tmp_path / "web.log").touch()
    sb.write_unit(WEB, f"[Service]\nExecStart=/bin/sh {script}\n")
    d = start_daemon(
        sb,
        tmp_path,
        WEB_RULES,
        [restart_web("2s")],
        [{"name": "web", "paths": [f"{tmp_path}/web.log"]}],
        http_receiver,
    )
    stop_daemon.append(d)
    sb.systemctl("start", WEB)

    wait_for(lambda: alert_states(http_receiver, "RemediationExhausted") == ["firing"], timeout=60)
    # Let the daemon read several more cooldowns' worth of errors (10 a second): no more restarts.
    seen = d.metric("alerter_events_total", collector="web")
    wait_for(lambda: d.metric("alerter_events_total", collector="web") >= seen + 60, timeout=30)
    assert (tmp_path / "starts").read_text().splitlines() == [
        "started"
    ] * 4  # first start + 3 restarts
    outcomes = [h["outcome"] for h in d.actions()]
    assert outcomes == ["ok", "ok", "ok", "skipped_limit"]
    assert alert_states(http_receiver, "RemediationExhausted") == ["firing"]
    (exhausted,) = [
        a
        for b in hooks(http_receiver, "/hook")
        for a in b["alerts"]
        if a["labels"]["alertname"] == "RemediationExhausted"
    ]
    assert exhausted["labels"]["action_target"] == WEB
    assert exhausted["annotations"]["description"].count(f"restarted {WEB} at") == 3


def test_cpu_quota_is_set_while_firing_and_reverted_on_resolve(
    systemd_sandbox: Sandbox, http_receiver: HTTPReceiver, tmp_path: Path, stop_daemon: list[Daemon]
) -> None:
    sb = systemd_sandbox
    sb.write_unit(CPU, "[Service]\nExecStart=/bin/sleep 1000\n")
    sb.systemctl("start", CPU)
    log = tmp_path / "app.log"
    log.touch()
    d = start_daemon(
        sb,
        tmp_path,
        """
        groups:
          - name: app
            interval: 1s
            rules:
              - alert: AppBusy
                logs: {source: app, match: 'BUSY'}
                aggregate: count
                over: 2s
                threshold: ">= 1"
                labels: {severity: warning}
                actions: [cpu-cap]
        """,
        [
            {
                "name": "cpu-cap",
                "type": "systemd",
                "unit": CPU,
                "operation": "set-property",
                "properties": {"CPUQuota": "20%"},
                "revert": True,
            }
        ],
        [{"name": "app", "paths": [str(log)]}],
        http_receiver,
    )
    stop_daemon.append(d)
    with log.open("a") as f:

        def busy_until_capped() -> bool:  # firing lasts `over` past the last BUSY: keep it up
            f.write("BUSY\n")
            f.flush()
            return sb.show(CPU, "CPUQuotaPerSecUSec") == "200ms"

        wait_for(busy_until_capped, timeout=30, interval=0.2)
    wait_for(lambda: alert_states(http_receiver, "AppBusy") == ["firing", "resolved"], timeout=30)
    wait_for(lambda: sb.show(CPU, "CPUQuotaPerSecUSec") == "infinity", timeout=30)
    assert [h["outcome"] for h in d.actions()] == ["ok", "undo_ok"]


def test_flooding_source_is_throttled_while_another_source_still_alerts(
    systemd_sandbox: Sandbox, http_receiver: HTTPReceiver, tmp_path: Path, stop_daemon: list[Daemon]
) -> None:
    sb = systemd_sandbox
    flood, other = tmp_path / "flood.log", tmp_path / "other.log"
    flood.touch()
    other.touch()
    d = start_daemon(
        sb,
        tmp_path,
        """
        groups:
          - name: flood
            interval: 1s
            rules:
              - alert: Flood
                logs: {source: flood, match: 'debug'}
                aggregate: count
                over: 2s
                threshold: ">= 2000"
                # the rule sees only what the throttle admits (<= 100/s): resolve below that
                resolve_threshold: "< 50"
                labels: {severity: warning}
                actions: [shed]
              - alert: Ping
                logs: {source: other, match: 'PING (?P<n>\\d+)'}
                by: [n]
                aggregate: count
                over: 1m
                threshold: ">= 1"
                labels: {severity: info}
        """,
        [{"name": "shed", "type": "throttle", "collector": "flood", "rate": "100/s"}],
        [{"name": "flood", "paths": [str(flood)]}, {"name": "other", "paths": [str(other)]}],
        http_receiver,
    )
    stop_daemon.append(d)
    line = b"debug: noisy noisy noisy noisy noisy noisy noisy noisy noisy\n" * 1000
    pings = 0
    with flood.open("ab") as f:

        def flood_until(pred: Any) -> Any:
            def step() -> Any:
                f.write(line)
                f.flush()
                return pred()

            return step

        wait_for(
            flood_until(
                lambda: (
                    d.metric("alerter_events_dropped_total", collector="flood", reason="throttled")
                    > 0
                )
            ),
            timeout=60,
        )
        # (actions run before the notification is sent: the throttle can show first)
        wait_for(lambda: alert_states(http_receiver, "Flood")[:1] == ["firing"], timeout=30)
        # While the flood goes on (and is throttled), the other source still alerts promptly.
        latencies = []
        for pings in range(1, 4):
            t0 = time.monotonic()
            with other.open("a") as o:
                o.write(f"PING {pings}\n")
            wait_for(
                flood_until(
                    lambda n=str(pings): any(
                        a["labels"].get("n") == n
                        for b in hooks(http_receiver, "/hook")
                        for a in b["alerts"]
                    )
                ),
                timeout=30,
            )
            latencies.append(time.monotonic() - t0)
        print(f"Ping alert latency under a throttled flood: {[f'{x:.2f}s' for x in latencies]}")
    # the flood stops: the alert resolves and the throttle is lifted
    wait_for(lambda: alert_states(http_receiver, "Flood")[-1:] == ["resolved"], timeout=30)
    wait_for(lambda: [h["outcome"] for h in d.actions()] == ["ok", "undo_ok"], timeout=10)
    before = d.metric("alerter_events_total", collector="flood")
    with flood.open("ab") as f:
        f.write(b"debug: after\n" * 500)
    wait_for(
        lambda: d.metric("alerter_events_total", collector="flood") >= before + 500, timeout=30
    )
