"""builtin:nginx against a real nginx, with the README's own collector config.

nginx (Debian's, on a loopback port) serves a Basic-auth folder and a `limit_req` one; the test
drives it with wrong passwords, unknown users, a burst over the rate, path traversal, probes of well-known
paths, and addresses written into the user agent and the query string. Then `alerter replay`
reads both logs with the config the README gives for the pack (its `/var/log/nginx/` paths
moved to the test's folder), and the firing alerts are exactly those of 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.testing import free_port
from tests.conftest import require, wait_for
from tests.rules.realservers import (
    checked_config,
    http_get,
    http_raw,
    readme_yaml,
    replay_firing,
    send_to_close,
    serving,
)

pytestmark = pytest.mark.integration

FORGED = '", client: 198.51.100.7, server: x'


def nginx_conf(tmp_path: Path, logs: Path, servers: str) -> Path:
    """nginx.conf in `tmp_path`: its logs in `logs`, its temporary files in `tmp_path`, and
    `servers` (server blocks, and what else goes in `http`)."""
    conf = tmp_path / "nginx.conf"
    head = textwrap.dedent(f"""
        # (its workers read the test's folder, which only root may enter)
        user root;
        worker_processes 1;
        pid {tmp_path}/nginx.pid;
        error_log {logs}/error.log info;
        events {{ worker_connections 64; }}
        http {{
          access_log {logs}/access.log combined;
          client_body_temp_path {tmp_path}/body;
          proxy_temp_path {tmp_path}/proxy;
          fastcgi_temp_path {tmp_path}/fcgi;
          uwsgi_temp_path {tmp_path}/uwsgi;
          scgi_temp_path {tmp_path}/scgi;
        """)
    conf.write_text(head + textwrap.indent(textwrap.dedent(servers), "  ") + "}\n")
    return conf


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """nginx in the foreground on a free loopback port: (port, its log folder)."""
    binary = require("/usr/sbin/nginx")
    port = free_port()
    www = tmp_path / "www"
    for d in ("private", "api"):
        (www / d).mkdir(parents=True)
        (www / d / "index.html").write_text("ok\n")
    (www / "index.html").write_text("hi\n")
    (tmp_path / "htpasswd").write_text("admin:{PLAIN}secret\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    conf = nginx_conf(
        tmp_path,
        logs,
        f"""
        limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
        server {{
          listen 127.0.0.1:{port};
          server_name test;
          root {www};
          location /private/ {{
            auth_basic "test";
            auth_basic_user_file {tmp_path}/htpasswd;
          }}
          location /api/ {{ limit_req zone=one burst=2 nodelay; }}
        }}
        """,
    )
    with serving([binary, "-c", str(conf), "-g", "daemon off;"], port):
        yield port, logs


@pytest.fixture
def nginx_tls(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """nginx serving TLS (a self-signed certificate) on a free loopback port: (port, its log
    folder)."""
    binary = require("/usr/sbin/nginx")
    openssl = require("openssl")
    port = free_port()
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=test", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    servers = f"""
        server {{
          listen 127.0.0.1:{port} ssl;
          server_name test;
          ssl_certificate {cert};
          ssl_certificate_key {key};
          root {tmp_path};
        }}
        """
    conf = nginx_conf(tmp_path, logs, servers)
    with serving([binary, "-c", str(conf), "-g", "daemon off;"], port):
        yield port, logs


def get(
    port: int, path: str, user: str | None = None, agent: str = "curl/8", referer: str = ""
) -> int:
    headers = {"User-Agent": agent} | ({"Referer": referer} if referer else {})
    return http_get(port, path, user, headers)


def test_the_nginx_pack_fires_for_the_real_client_only(
    nginx: tuple[int, Path], tmp_path: Path
) -> None:
    port, logs = nginx
    assert [get(port, "/") for _ in range(3)] == [200] * 3
    assert [get(port, "/private/", f"admin:wrong{i}") for i in range(6)] == [401] * 6
    assert [get(port, "/private/", f"nouser{i}:x") for i in range(6)] == [401] * 6
    assert get(port, "/private/", "admin:secret") == 200
    # a burst over 1 request/s (2 more allowed): the rest are rejected (503 by default)
    burst = [get(port, "/api/") for _ in range(10)]
    assert burst.count(503) >= 5
    probes = ["/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/index.php", "/xmlrpc.php"]
    assert [get(port, p) for p in probes] == [404] * 5
    # path traversal: nginx refuses what it decodes above the root (400), else looks it up
    traversal = [b"/../../etc/passwd", b"/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", b"/s/..%5cwin.ini"]
    get_raw = b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert [http_raw(port, get_raw % t) for t in traversal] == [400, 400, 404]
    # another address written where a client can write (the error log writes the Referer
    # raw, after the real client): counted for the client or nobody
    for _ in range(6):
        assert get(port, "/private/", "a:b", agent=f"evil{FORGED}", referer=f"r{FORGED}") == 401
        assert get(port, "/.env", referer=f"r{FORGED}") == 404

    snippet = readme_yaml("The nginx pack reads both of nginx's logs")
    config, check = checked_config(tmp_path, snippet.replace("/var/log/nginx/", f"{logs}/"))
    assert "note:" not in check  # the README's access-log pattern runs in `re`
    firing = replay_firing(
        config, {"nginx_access": logs / "access.log", "nginx_error": logs / "error.log"}
    )
    assert firing == {
        ("NginxHTTPAuthFailures", "127.0.0.1"),
        ("NginxRateLimited", "127.0.0.1"),
        ("NginxProbes", "127.0.0.1"),
        ("NginxProbesErrorLog", "127.0.0.1"),
        ("NginxPathTraversal", "127.0.0.1"),
        ("NginxClientErrorsFromAddress", "127.0.0.1"),  # 32 4xx: 401s, 404s, the 400s above
    }
    # what nginx wrote: the forged text is there, as the client sent it
    error_log = (logs / "error.log").read_text()
    assert error_log.count("password mismatch, client: 127.0.0.1, ") == 6
    assert error_log.count("limiting requests, excess: ") == burst.count(503)
    assert error_log.count(f'referrer: "r{FORGED}"') == 12
    assert (logs / "access.log").read_text().count("198.51.100.7") == 18  # UA and Referer


def test_lines_a_client_writes_into_nginxs_error_log_are_no_other_programs(
    nginx: tuple[int, Path], tmp_path: Path
) -> None:
    """nginx writes a Basic-auth user name raw to its error log, newlines included: a client
    puts lines of its own there, sshd's and pam_unix's shapes among them. builtin:sshd and
    builtin:pam, loaded beside the README's nginx config with no `sources:`, read the syslog
    files and the journal only (their `source_kinds`), so such lines count for nobody."""
    port, logs = nginx
    sshd = "Failed password for root from 203.0.113.9 port 22 ssh2"
    pam = "pam_unix authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9"
    for forged in (sshd, pam):
        assert [get(port, "/private/", f"a\n{forged}\nb:x") for _ in range(8)] == [401] * 8
    lines = (logs / "error.log").read_text().splitlines()
    assert lines.count(sshd) == 8 and lines.count(pam) == 8  # on lines of their own

    snippet = readme_yaml("The nginx pack reads both of nginx's logs")
    config, check = checked_config(
        tmp_path,
        snippet.replace("/var/log/nginx/", f"{logs}/") + "  - builtin:sshd\n  - builtin:pam\n",
    )
    # (no syslog file, no journal: the two packs read nothing, and check says so)
    assert "builtin:sshd: SSHBruteForce, SSHInvalidUsers, SSHAuthRefused read no collector" in check
    # (nor NginxHTTPAuthFailures: the client split its own lines, dodging its own count only)
    assert replay_firing(config, {"nginx_error": logs / "error.log"}) == set()
    # what stops them is that: pointed at the error log by hand, they count the forged lines
    told, _ = checked_config(
        tmp_path,
        snippet.replace("/var/log/nginx/", f"{logs}/")
        + "  - {path: builtin:sshd, sources: [nginx_error]}\n",
    )
    assert replay_firing(told, {"nginx_error": logs / "error.log"}) == {
        ("SSHBruteForce", "203.0.113.9")
    }


# TLS records no TLS client sends: a handshake record longer than TLS allows, and one too short
# for the handshake message it starts (OpenSSL 3: "packet length too long", "length too short")
TOO_LONG = b"\x16\x03\x01\xff\xff" + b"\x00" * 64
TOO_SHORT = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"


def test_nginx_aggressive_fires_for_malformed_tls_handshakes(
    nginx_tls: tuple[int, Path], tmp_path: Path
) -> None:
    """builtin:nginx-aggressive beside builtin:nginx: six malformed TLS records from 127.0.0.9
    fire NginxTLSHandshakeErrors for it; plain HTTP sent to the TLS port (127.0.0.8) and TLS
    clients that refuse the certificate (127.0.0.1) count for nothing."""
    port, logs = nginx_tls
    for record in (TOO_LONG, TOO_SHORT) * 3:
        send_to_close(port, record, None, source="127.0.0.9")
    refusing = ssl.create_default_context()  # the test's self-signed certificate: refused
    for _ in range(6):
        send_to_close(port, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n", None, "127.0.0.8")
        with (
            socket.create_connection(("127.0.0.1", port), timeout=60) as c,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            refusing.wrap_socket(c, server_hostname="test")

    def logged() -> bool:
        text = (logs / "error.log").read_text(errors="replace")
        return all(text.count(f"client: 127.0.0.{i},") >= 6 for i in (1, 8, 9))

    wait_for(logged, timeout=30)
    error_log = (logs / "error.log").read_text(errors="replace")
    assert error_log.count("SSL routines::packet length too long) while SSL handshaking") == 3
    snippet = readme_yaml("The nginx pack reads both of nginx's logs").replace(
        "/var/log/nginx/", f"{logs}/"
    )
    extra = "  - {path: builtin:nginx-aggressive, sources: [nginx_error]}\n"
    config, _ = checked_config(tmp_path, snippet.rstrip("\n") + "\n" + extra)
    firing = replay_firing(
        config, {"nginx_access": logs / "access.log", "nginx_error": logs / "error.log"}
    )
    assert firing == {("NginxTLSHandshakeErrors", "127.0.0.9")}, error_log
