"""`alerter --version` and `alerter version` say the same."""

from __future__ import annotations

import pytest

from alerter import __version__
from alerter.cli.main import main


def test_version_flag_and_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    flag = capsys.readouterr().out
    assert main(["version"]) == 0
    assert flag == capsys.readouterr().out == f"alerter {__version__}\n"
