"""The `alerter` command given wrong input, as a new operator gives it: every mistake is told in
a line that names what to change, with a meaningful exit code, and never as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.cli.main import main


def test_bans_del_with_a_token_file_it_cannot_read_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for token in (tmp_path / "missing", tmp_path):  # no such file; a directory
        assert main(["bans", "del", "--token-file", str(token), "192.0.2.1"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"alerter: cannot read --token-file {token}: "), err
        assert err.count("\n") == 1
