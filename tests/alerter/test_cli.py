"""The `alerter` command as a user runs it: check, run with a bad config, signals, version."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from alerter.testing import free_port
from tests.conftest import wait_for

ALERTER = [sys.executable, "-m", "alerter"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ALERTER, *args], capture_output=True, text=True, timeout=timeout)


def test_check_ok_prints_a_summary_that_counts_one_thing_in_the_singular(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\ncollectors: [{name: h, type: host}]\nrule_files: [r.yaml]\n"
        "actions: [{name: a, type: command, argv: [/bin/true]}]\n"
    )
    (tmp_path / "r.yaml").write_text(
        "groups:\n- name: g\n  rules:\n  - {alert: A, metric: up, aggregate: last, over: 1m,"
        ' threshold: "> 0"}\n'
    )
    out = run("check", "-c", str(cfg))
    assert out.returncode == 0
    assert out.stdout == (f"{cfg}: OK: 1 collector, 1 rule group (1 rule), 1 notifier, 1 action\n")
    (tmp_path / "r.yaml").write_text("groups: []\n")
    out = run("check", "-c", str(cfg))
    assert out.stdout == f"{cfg}: OK: 1 collector, 0 rule groups (0 rules), 1 notifier, 1 action\n"


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("global:\n  evaluation_interval: 1 min\n  colour: red\n")
    out = run("check", "-c", str(cfg))
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        f"{cfg}:2:24: evaluation_interval: invalid duration '1 min' (use e.g. 500ms, 10s, 5m, 1h30m, 7d)",
        f"{cfg}:3:3: global: unknown key 'colour'",
    ]


def test_check_warns_of_a_rule_file_glob_that_matches_nothing(tmp_path: Path) -> None:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "a.yaml").write_text("groups: []\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        'global: {state_dir: s}\nrule_files: ["rules.d/*.yaml", "rule.d/*.yaml", builtin:host]\n'
        "collectors: [{name: host, type: host}]\n"
    )
    out = run("check", "-c", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0] == (
        f"{cfg}:2:32: warning: rule_files: rule.d/*.yaml matches no file; no rules read from it"
    )
    assert out.stdout.splitlines()[1].endswith(", 1 warning")


def test_check_tells_the_warnings_found_beside_its_problems(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\n"
        "actions:\n"
        "  - {name: reboot, type: systemd, unit: reboot.target, operation: start}\n"
        "  - {name: ssh, type: systemd, unit: ssh}\n"
    )
    out = run("check", "-c", str(cfg))
    assert out.returncode == 1
    told = out.stdout.splitlines()
    assert len(told) == 2, told
    assert told[0].startswith(f"{cfg}:3:41: warning: unit: reboot.target is a target unit")
    assert told[1] == (
        f"{cfg}:4:38: unit: ssh.service is protected (built in); alerter will not act on it"
    )


def test_check_prints_action_warnings_and_still_passes(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\n"
        "actions:\n"
        "  - {name: reboot, type: systemd, unit: reboot.target, operation: start}\n"
        "  - {name: web, type: systemd, unit: web}\n"
        "collectors: [{name: host, type: host}]\n"
    )
    out = run("check", "-c", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(
        f"{cfg}:3:41: warning: unit: reboot.target is a target unit; acting on it changes"
    )
    assert lines[1].startswith(f"{cfg}: OK: ") and lines[1].endswith(", 1 warning")
    assert len(lines) == 2


def test_check_notes_the_patterns_that_run_in_re2_and_still_passes(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "groups:\n"
        "  - name: g\n"
        "    rules:\n"
        "      - alert: Slow\n"
        "        logs: {match: 'user=(?P<u>.*) ip=(?P<ip>.*)'}\n"
        "        aggregate: count\n"
        "        over: 5m\n"
        "        threshold: '>= 1'\n"
        "      - alert: Fast\n"
        "        logs: {match: 'Invalid user (?P<user>\\S+) from'}\n"
        "        aggregate: count\n"
        "        over: 5m\n"
        "        threshold: '>= 1'\n"
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\n"
        "collectors:\n"
        "  - name: web\n"
        "    type: file\n"
        "    paths: [a.log]\n"
        "    parser: {type: regex, pattern: '(?P<a>\\S*)=(?P<b>\\S*)'}\n"
        "  - {name: journal, type: journald}\n"  # (builtin:sshd's rules read it)
        "rule_files: [r.yaml, 'builtin:sshd']\n"
    )
    out = run("check", "-c", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert [ln.split(" (")[0] for ln in lines[:-1]] == [
        f"{cfg}:3:5: note: collector web: its parser pattern runs in RE2",
        f"{tmp_path / 'r.yaml'}:4:9: note: Slow: its match runs in RE2",
    ]
    assert lines[-1].endswith(", 2 notes") and "warning" not in lines[-1]


def test_check_prints_the_first_notes_and_how_many_more(tmp_path: Path) -> None:
    rules = "".join(
        f"      - {{alert: Slow{i}, logs: {{match: 'user=(?P<u>.*) ip={i}'}}, aggregate: count,"
        f" over: 5m, threshold: '>= 1'}}\n"
        for i in range(25)
    )
    (tmp_path / "r.yaml").write_text(f"groups:\n  - name: g\n    rules:\n{rules}")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\nrule_files: [r.yaml]\ncollectors: [{name: host, type: host}]\n"
    )
    out = run("check", "-c", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 22 and all(": note: Slow" in ln for ln in lines[:20])
    assert lines[20] == "... and 5 more notes of regexes that run in RE2"
    assert lines[21].endswith(", 25 notes")


def test_run_with_a_bad_config_exits_nonzero_with_the_same_list(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("global:\n  evaluation_interval: 1 min\n")
    out = run("run", "-c", str(cfg))
    assert out.returncode == 1
    assert out.stderr.startswith("alerter: invalid config, not starting (1 problem):\n")
    assert f"{cfg}:2:24: evaluation_interval: invalid duration '1 min'" in out.stderr
    assert "Traceback" not in out.stderr


def test_version() -> None:
    out = run("version")
    assert out.returncode == 0
    assert out.stdout.startswith("alerter ")


@pytest.mark.integration
@pytest.mark.parametrize(
    "sigs",
    # a burst as systemd, `timeout` and make send (SIGTERM to the process and to its group)
    [(signal.SIGTERM,), (signal.SIGINT,), (signal.SIGHUP, signal.SIGTERM, signal.SIGTERM)],
)
def test_signal_stops_the_daemon_cleanly(tmp_path: Path, sigs: tuple[signal.Signals, ...]) -> None:
    port = free_port()
    log = tmp_path / "app.log"
    log.write_text("")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"global: {{state_dir: s}}\nserver: {{listen: '127.0.0.1:{port}'}}\n"
        f"collectors: [{{name: app, type: file, paths: ['{log}'], start_at: beginning, parser: {{type: none}}}}]\n"
    )
    proc = subprocess.Popen(
        [*ALERTER, "run", "-c", str(cfg), "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def ready() -> bool:
            try:
                return (
                    requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200
                )
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout=30)
        with log.open("a") as f:
            f.writelines(f"line {i}\n" for i in range(1000))

        def metric() -> float:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            for line in text.splitlines():
                if line.startswith('alerter_events_total{collector="app"}'):
                    return float(line.split()[-1])
            return 0.0

        wait_for(lambda: metric() == 1000, timeout=30)
        for sig in sigs:
            proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        output = proc.stdout.read() if proc.stdout else ""
        assert '"alerter_stopped"' in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_daemon_logs_the_warnings_check_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import structlog

    import alerter.runtime.daemon
    from alerter.testing import running_daemon

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        'global: {state_dir: s}\nserver: {listen: "127.0.0.1:0"}\nrule_files: ["rule.d/*.yaml"]\n'
        "collectors: [{name: host, type: host}]\n"
    )
    with structlog.testing.capture_logs() as logs:
        monkeypatch.setattr(
            alerter.runtime.daemon, "log", structlog.get_logger("alerter.runtime.daemon")
        )
        with running_daemon(cfg):
            pass
    told = [e["problem"] for e in logs if e["event"] == "config_warning"]
    assert told == [
        f"{cfg}:3:14: warning: rule_files: rule.d/*.yaml matches no file; no rules read from it"
    ]
