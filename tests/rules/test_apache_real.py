"""builtin:apache against a real Apache httpd, with the README's collector config.

apache2 (Debian's, on a loopback port, `LogLevel warn core:info` as the README advises) serves a
Basic-auth folder and a ScriptAlias'd cgi-bin through mod_cgid; the test drives it with wrong
passwords, unknown users, a user name holding `[client 198.51.100.7]`, and probes of missing
scripts and well-known paths. Then `alerter replay` reads the error log with the config the
README gives for the pack, and the firing alerts are exactly those of 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.testing import free_port
from tests.conftest import REPO, require, stop_process, wait_for

pytestmark = pytest.mark.integration

ALERTER = [sys.executable, "-m", "alerter"]
MODULES = "/usr/lib/apache2/modules"
FORGED = "x [client 198.51.100.7] user y"  # reads on as a message of its own


def readme_apache_config() -> str:
    """The README's YAML block that feeds the apache pack its error log."""
    text = (REPO / "README.md").read_text()
    start = text.index("The apache pack reads Apache's error log")
    m = re.compile(r"```yaml\n(.*?)```", re.S).search(text, start)
    assert m is not None
    return m[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def apache(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """apache2 in the foreground on a free loopback port: (port, its log folder)."""
    binary = require("/usr/sbin/apache2")
    port = free_port()
    # its children run as www-data: a document root they can read (pytest's folders are 0700)
    www = Path(tempfile.mkdtemp(prefix="alerter-apache-www-"))
    try:
        www.chmod(0o755)
        for d in ("private", "cgi-bin"):
            (www / d).mkdir(mode=0o755)
        (www / "index.html").write_text("hi\n")
        (www / "private" / "index.html").write_text("ok\n")
        digest = base64.b64encode(hashlib.sha1(b"secret").digest()).decode()
        (www / "htpasswd").write_text(f"admin:{{SHA}}{digest}\n")
        for f in (www / "index.html", www / "private" / "index.html", www / "htpasswd"):
            f.chmod(0o644)
        logs = tmp_path / "logs"
        logs.mkdir()
        mods = ("mpm_event", "authz_core", "authz_user", "authn_core", "authn_file", "auth_basic")
        mods += ("dir", "cgid", "alias")
        conf = tmp_path / "httpd.conf"
        conf.write_text(
            "\n".join(
                [
                    "ServerRoot /etc/apache2",
                    f"Listen 127.0.0.1:{port}",
                    f"PidFile {tmp_path}/httpd.pid",
                    "ServerName test",
                    *(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in mods),
                    f"ScriptSock {tmp_path}/cgisock",
                    "User www-data",
                    "Group www-data",
                    f"ErrorLog {logs}/error.log",
                    "LogLevel warn core:info",
                    f"DocumentRoot {www}",
                    f"<Directory {www}>",
                    "  Require all granted",
                    "</Directory>",
                    f"<Directory {www}/private>",
                    "  AuthType Basic",
                    '  AuthName "test"',
                    f"  AuthUserFile {www}/htpasswd",
                    "  Require valid-user",
                    "</Directory>",
                    f"ScriptAlias /cgi-bin/ {www}/cgi-bin/",
                    "",
                ]
            )
        )
        proc = subprocess.Popen(
            [binary, "-f", str(conf), "-DFOREGROUND"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: listening(port) or proc.poll() is not None, timeout=20)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            yield port, logs
        finally:
            stop_process(proc)
    finally:
        shutil.rmtree(www)


def get(port: int, path: str, user: str | None = None) -> int:
    headers = {"Referer": "r [client 198.51.100.9] x"}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_the_apache_pack_fires_for_the_real_client_only(
    apache: tuple[int, Path], tmp_path: Path
) -> None:
    port, logs = apache
    assert get(port, "/") == 200
    assert get(port, "/private/", "admin:secret") == 200
    assert [get(port, "/private/", f"admin:wrong{i}") for i in range(3)] == [401] * 3
    assert [get(port, "/private/", f"nouser{i}:x") for i in range(3)] == [401] * 3
    # another address in the user name, and in the Referer of every request
    assert [get(port, "/private/", f"{FORGED}:z") for _ in range(5)] == [401] * 5
    probes = ["/wp-login.php", "/.env", "/phpmyadmin/index.php", "/cgi-bin/luci", "/cgi-bin/x.cgi"]
    assert [get(port, p) for p in probes] == [404] * 5

    config = readme_apache_config().replace("/var/log/apache2/", f"{logs}/")
    config += textwrap.dedent(f"""
        global: {{state_dir: {tmp_path}/state}}
        notifiers:
          - {{name: out, type: webhook, url: "http://127.0.0.1:9/unused"}}
        route: {{receiver: out}}
        """)
    (tmp_path / "config.yaml").write_text(config)
    check = subprocess.run(
        [*ALERTER, "check", "-c", str(tmp_path / "config.yaml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    replay = subprocess.run(
        [
            *ALERTER,
            "replay",
            "-c",
            str(tmp_path / "config.yaml"),
            "--log",
            f"apache_error={logs}/error.log",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0, replay.stderr
    transitions = [json.loads(x) for x in replay.stdout.splitlines()]
    firing = {
        (t["alertname"], t["labels"].get("ip")) for t in transitions if t["state"] == "firing"
    }
    assert firing == {("ApacheAuthFailures", "127.0.0.1"), ("ApacheProbes", "127.0.0.1")}
    # what Apache wrote: each failure once, the forged text as the client sent it
    text = (logs / "error.log").read_text()
    assert text.count("AH01617: user admin: authentication failure") == 3
    assert text.count(f"AH01618: user {FORGED} not found") == 5
    assert text.count("AH00128: File does not exist") == 3
    assert text.count("script not found or unable to stat") == 2
