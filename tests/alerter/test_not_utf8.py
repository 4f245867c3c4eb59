"""A file saved in another encoding than UTF-8 (Latin-1, say) is told as FILE:LINE:COL, by every
command that reads one, never as a UnicodeDecodeError traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ALERTER = [sys.executable, "-m", "alerter"]
HINT = "not UTF-8 (byte 0xe9): save the file as UTF-8"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ALERTER, *args], capture_output=True, text=True, timeout=60)


def test_check_tells_where_the_config_or_a_rule_file_is_not_utf8(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"global: {state_dir: s}\n# d\xe9j\xe0 vu\n")
    out = run("check", "-c", str(cfg))
    assert (out.returncode, out.stdout.strip()) == (1, f"{cfg}:2:4: {HINT}"), out.stderr
    assert "Traceback" not in out.stderr

    rules = tmp_path / "r.yaml"
    rules.write_bytes(b"groups:\n  - name: g\n    rules:\n      - alert: Caf\xe9\n")
    cfg.write_text("global: {state_dir: s}\nrule_files: [r.yaml]\n")
    out = run("check", "-c", str(cfg))
    assert (out.returncode, out.stdout.strip()) == (1, f"{rules}:4:19: {HINT}"), out.stderr


def test_check_tells_a_token_or_url_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"tok\xe9n\n")
    (tmp_path / "url").write_bytes(b"https://hooks.example.org/\xe9\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\n"
        "server: {token_file: token}\n"
        "notifiers: [{name: s, type: slack, webhook_url_file: url}]\n"
    )
    out = run("check", "-c", str(cfg))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{cfg}:2:22: token_file: {tmp_path / 'token'}:1:4: {HINT}" in out.stdout
    assert f"webhook_url_file: {tmp_path / 'url'}:1:27: {HINT}" in out.stdout


def test_alerter_test_tells_a_test_or_rule_file_not_in_utf8_and_a_missing_rule_file(
    tmp_path: Path,
) -> None:
    t = tmp_path / "t.yaml"
    t.write_bytes(b"rule_files: [r.yaml]\ntests: []\n# \xe9\n")
    out = run("test", str(t))
    assert (out.returncode, out.stdout.splitlines()[0]) == (1, f"{t}:3:3: {HINT}")
    (tmp_path / "r.yaml").write_bytes(b"groups: [] # \xe9\n")
    t.write_text("rule_files: [r.yaml, nosuch.yaml]\ntests: []\n")
    out = run("test", str(t))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stdout.splitlines()[:2] == [
        f"{tmp_path / 'r.yaml'}:1:14: {HINT}",
        f"{t}:1:22: rule_files: cannot read nosuch.yaml: No such file or directory",
    ]
