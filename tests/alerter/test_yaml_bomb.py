"""A billion-laughs YAML file is an error, quickly: through `alerter check` (as the config, as a
rule file, as a rule test) and through SIGHUP on a running daemon, which keeps its old config."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from alerter.testing import free_port
from tests.conftest import stop_process, wait_for

pytestmark = pytest.mark.integration

ALERTER = [sys.executable, "-m", "alerter"]

LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

BOMB_CONFIG = (
    '# billion laughs: 9 levels of 9 aliases each; 9^9 = 387,420,489 "lol" strings once expanded\n'
    "global: {state_dir: state}\n"
    "collectors: [{name: host, type: host, interval: 15s}]\n"
    "notifiers: [{name: console, type: console}]\n" + LAUGHS
)

# Line 6 of LAUGHS (f:), column 8: the first *e, where the expansion passes 100,000 nodes.
REFUSAL = (
    "invalid YAML: aliases expand the document by more than 100000 nodes (at *e); "
    "write the values out or use fewer nested aliases"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # The timeout only keeps a regression from hanging the suite; it is not the assertion.
    return subprocess.run([*ALERTER, *args], capture_output=True, text=True, timeout=120)


def test_the_file_is_the_559_byte_one() -> None:
    assert len(BOMB_CONFIG.encode()) == 559


def test_check_refuses_a_billion_laughs_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BOMB_CONFIG)
    out = run("check", "-c", str(cfg))
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines() == [f"{cfg}:10:8: {REFUSAL}"]
    assert "Traceback" not in out.stderr


def test_check_refuses_a_billion_laughs_rule_file(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text("groups: []\n" + LAUGHS)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("global: {state_dir: state}\nrule_files: [bomb.yaml]\n")
    out = run("check", "-c", str(cfg))
    assert out.returncode == 1, out.stdout + out.stderr
    assert [line for line in out.stdout.splitlines() if REFUSAL in line] == [
        f"{tmp_path / 'bomb.yaml'}:7:8: {REFUSAL}"
    ]


def test_alerter_test_refuses_a_billion_laughs_test_file(tmp_path: Path) -> None:
    tests = tmp_path / "t.yaml"
    tests.write_text("rule_files: []\ntests: []\n" + LAUGHS)
    out = run("test", str(tests))
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{tests}:8:8: {REFUSAL}" in out.stdout


def test_sighup_with_a_billion_laughs_config_keeps_the_old_one(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = tmp_path / "c.yaml"
    good = (
        f"global: {{state_dir: state}}\nserver: {{listen: '127.0.0.1:{port}'}}\n"
        "collectors: [{name: old, type: host, interval: 15s}]\n"
    )
    cfg.write_text(good)
    with (tmp_path / "out.log").open("w") as logf:
        proc = subprocess.Popen(
            [*ALERTER, "run", "-c", str(cfg), "--log-format", "json"],
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    try:

        def status() -> dict[str, object] | None:
            try:
                r = requests.get(f"{base}/api/v1/status", timeout=5)
            except requests.ConnectionError:
                return None
            data: dict[str, object] = r.json()["data"]
            return data

        wait_for(lambda: (s := status()) is not None and s["ready"], timeout=60)
        bomb = BOMB_CONFIG.replace(
            "global: {state_dir: state}\n",
            f"global: {{state_dir: state}}\nserver: {{listen: '127.0.0.1:{port}'}}\n",
        )
        cfg.write_text(bomb)
        proc.send_signal(signal.SIGHUP)
        refused = wait_for(lambda: (s := status()) and s["last_reload_error"] and s, timeout=60)
        assert REFUSAL in str(refused["last_reload_error"])
        assert refused["collectors"] == ["old"]  # the old config runs on
        assert requests.get(f"{base}/-/ready", timeout=5).status_code == 200
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert "alerter_config_last_reload_successful 0.0" in metrics

        # The main loop is not stuck: the next good config is taken.
        cfg.write_text(good.replace("name: old", "name: new"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: (s := status()) and s["collectors"] == ["new"], timeout=60)
        assert proc.poll() is None
    finally:
        stop_process(proc, 20)
