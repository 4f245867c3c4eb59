"""builtin:apache against a real Apache httpd, with the README's collector config.

apache2 (Debian's, on a loopback port, `LogLevel warn core:info` as the README advises) serves a
Basic-auth folder and a ScriptAlias'd cgi-bin through mod_cgid; the test drives it with wrong
passwords, unknown users, a user name holding `[client 198.51.100.7]`, probes of missing
scripts and well-known paths, and requests it refuses as malformed (path traversal, a request line
too long, a path holding a line of its own). Then `alerter replay` reads the error log with the config the
README gives for the pack, and the firing alerts are exactly those of 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.testing import free_port
from tests.conftest import require
from tests.rules.realservers import (
    checked_config,
    http_get,
    http_raw,
    readme_yaml,
    replay_firing,
    serving,
)

pytestmark = pytest.mark.integration

MODULES = "/usr/lib/apache2/modules"
FORGED = "x [client 198.51.100.7] user y"  # reads on as a message of its own


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
        mods: tuple[str, ...] = ("mpm_event", "authz_core", "authz_user", "authn_core")
        mods += ("authn_file", "auth_basic", "dir", "cgid", "alias")
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
        with serving([binary, "-f", str(conf), "-DFOREGROUND"], port):
            yield port, logs
    finally:
        shutil.rmtree(www)


def get(port: int, path: str, user: str | None = None) -> int:
    return http_get(port, path, user, {"Referer": "r [client 198.51.100.9] x"})


# requests Apache refuses before serving them: path traversal (the CVE-2021-41773 scanners'),
# a request line over LimitRequestLine, and a path holding a line of its own naming 198.51.100.8
MALFORMED = [
    b"GET /cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n\r\n",
    b"GET /../x)%0a[Sat%20Dec%2005]%20[core:error]%20[client%20198.51.100.8]%20AH10244: HTTP/1.1"
    b"\r\nHost: x\r\n\r\n",
]


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
    assert [http_raw(port, r) for r in MALFORMED] == [400, 414, 400]

    snippet = readme_yaml("The apache pack reads Apache's error log")
    config, _ = checked_config(tmp_path, snippet.replace("/var/log/apache2/", f"{logs}/"))
    firing = replay_firing(config, {"apache_error": logs / "error.log"})
    assert firing == {
        ("ApacheAuthFailures", "127.0.0.1"),
        ("ApacheProbes", "127.0.0.1"),
        ("ApacheBadRequests", "127.0.0.1"),
    }
    # what Apache wrote: each failure once, the forged text as the client sent it
    text = (logs / "error.log").read_text()
    assert text.count("AH01617: user admin: authentication failure") == 3
    assert text.count(f"AH01618: user {FORGED} not found") == 5
    assert text.count("AH00128: File does not exist") == 3
    assert text.count("script not found or unable to stat") == 2
    assert text.count("AH10244: invalid URI path (") == 2
    assert (
        text.count("AH00565: request failed: client's request-line exceeds LimitRequestLine") == 1
    )
