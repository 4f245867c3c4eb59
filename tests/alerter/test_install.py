"""`make install` into a staging root (DESTDIR): every file where the unit and the shells look
for it; then, in a private systemd whose /usr/local and /opt are the staged ones, the installed
unit verifies clean and the installed command runs."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO, Sandbox, require

pytestmark = pytest.mark.integration

# The staged venv gets alerter alone (--no-deps: no network in the test); its dependencies are
# read from this checkout's venv when the installed command runs.
DEPS = sysconfig.get_paths()["purelib"]


def test_make_install_stages_everything_and_the_unit_verifies(
    systemd_sandbox: Sandbox, tmp_path: Path
) -> None:
    require("make")
    stage = tmp_path / "stage"
    (stage / "etc/alerter").mkdir(parents=True)
    (stage / "etc/alerter/config.yaml").write_text("# the admin's own\n")
    out = subprocess.run(
        ["make", "-C", str(REPO), "install", f"DESTDIR={stage}", "PIP_ARGS=--no-deps"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": DEPS},
    )
    assert out.returncode == 0, out.stdout + out.stderr

    assert os.readlink(stage / "usr/local/bin/alerter") == "/opt/alerter/bin/alerter"
    script = (stage / "opt/alerter/bin/alerter").read_text()
    assert script.startswith("#!/opt/alerter/bin/python\n")  # not the staging path
    assert str(stage) not in (stage / "opt/alerter/bin/activate").read_text()
    unit = (stage / "usr/local/lib/systemd/system/alerter.service").read_text()
    assert unit == (REPO / "packaging/alerter.service").read_text()  # default PREFIX: as shipped
    doc = next(line for line in unit.splitlines() if line.startswith("Documentation="))
    assert (stage / doc.removeprefix("Documentation=file:///")).is_file()
    # an existing config is never overwritten
    assert (stage / "etc/alerter/config.yaml").read_text() == "# the admin's own\n"
    for path in (
        "usr/local/share/doc/alerter/config.example.yaml",
        "usr/local/share/doc/alerter/examples/alerter-polkit.rules",
        "usr/local/share/bash-completion/completions/alerter",
        "usr/local/share/zsh/site-functions/_alerter",
    ):
        assert (stage / path).stat().st_size > 0, path

    # Where the unit expects them: inside a private systemd, /usr/local and /opt are the staged.
    sb = systemd_sandbox
    sb.run("mount", "--bind", str(stage / "usr/local"), "/usr/local")
    sb.run("mount", "--bind", str(stage / "opt"), "/opt")
    sb.systemctl("daemon-reload")
    verify = sb.run(
        "systemd-analyze", "verify", "/usr/local/lib/systemd/system/alerter.service", check=False
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    assert (
        sb.show("alerter.service", "FragmentPath")
        == "/usr/local/lib/systemd/system/alerter.service"
    )
    version = sb.run("env", f"PYTHONPATH={DEPS}", "/usr/local/bin/alerter", "--version")
    assert version.stdout.startswith("alerter ")
    where = sb.run(
        "env", f"PYTHONPATH={DEPS}", "/opt/alerter/bin/python", "-c",
        "import alerter; print(alerter.__file__)",
    )  # fmt: skip
    assert where.stdout.startswith("/opt/alerter/lib/")
    # the config make install writes for the service passes the unit's ExecStartPre check
    check = sb.run(
        "env", f"PYTHONPATH={DEPS}", "/usr/local/bin/alerter", "check",
        "-c", str(REPO / "packaging/config.yaml"), check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
