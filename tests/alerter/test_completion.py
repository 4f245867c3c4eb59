"""`alerter completion bash|zsh`: the generated scripts complete subcommands, options, choices
and files in the real shells."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alerter.cli.main import main
from tests.conftest import require


def script(shell: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["completion", shell]) == 0
    path = tmp_path / f"alerter.{shell}"
    path.write_text(capsys.readouterr().out)
    return path


CASES = [
    (["alerter", "sil"], ["silence"]),
    (["alerter", "silence", "a"], ["add"]),
    (["alerter", "silence", "add", "--com"], ["--comment"]),
    (["alerter", "alerts", "--c"], ["--config"]),
    (["alerter", "run", "--log-format", ""], ["json", "console"]),
    (["alerter", "--v"], ["--version"]),
    (["alerter", "check", "-c", "conf"], ["config.yaml"]),  # a file name
    (["alerter", "test", "rul"], ["rules.yaml"]),  # positional: files
    (["alerter", "completion", ""], ["bash", "zsh"]),  # positional: its choices
]


@pytest.mark.integration
def test_bash_completes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bash = require("bash")
    path = script("bash", tmp_path, capsys)
    (tmp_path / "config.yaml").write_text("")
    (tmp_path / "rules.yaml").write_text("")
    for words, want in CASES:
        quoted = " ".join(f"'{w}'" for w in words)
        prog = (
            f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
            'COMPREPLY=(); _alerter; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        out = subprocess.run(
            [bash, "-c", prog], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == want, (words, out.stdout, out.stderr)


@pytest.mark.integration
def test_zsh_completes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zsh = require("zsh")
    path = script("zsh", tmp_path, capsys)
    assert subprocess.run([zsh, "-n", str(path)], capture_output=True).returncode == 0
    (tmp_path / "config.yaml").write_text("")
    (tmp_path / "rules.yaml").write_text("")
    for words, want in CASES:
        quoted = " ".join(f"'{w}'" for w in words)
        # compadd and _files as zsh's completion system would offer them, filtered by the word
        prog = (
            "compdef() { :; }; "
            'compadd() { shift; for w in "$@"; do [[ $w == ${cur}* ]] && print -r -- $w; done; }; '
            "_files() { print -rl -- ${cur}*(N); }; "
            f"source {path}; words=({quoted}); CURRENT={len(words)}; cur=${{words[CURRENT]}}; "
            "_alerter; true"
        )
        out = subprocess.run(
            [zsh, "-f", "-c", prog], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == want, (words, out.stdout, out.stderr)
