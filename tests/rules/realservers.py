"""Shared by the tests that run a pack against real server software (`test_*_real.py`): wait
for a loopback port, take a config snippet from the README as written, complete it into a
config, and read which alerts `alerter replay` fires over the server's logs."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from tests.conftest import REPO, stop_process, wait_for

ALERTER = [sys.executable, "-m", "alerter"]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def serving(argv: list[str], port: int) -> Iterator[None]:
    """A server run in the foreground by `argv`, once it listens on `port` (it must not exit
    first); ended after, by its PID."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: listening(port) or proc.poll() is not None, timeout=20)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield
    finally:
        stop_process(proc)


def http_get(
    port: int, path: str, user: str | None = None, headers: Mapping[str, str] | None = None
) -> int:
    """The status of GET `path` on the loopback `port`, with Basic auth `user` ("name:password")
    and `headers`."""
    sent = dict(headers or {})
    if user is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def http_raw(port: int, request: bytes) -> int:
    """The status the HTTP server on the loopback `port` answers `request`, sent as is (urllib
    would resolve `../` and refuse what a scanner sends)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        return int(s.makefile("rb").readline().split()[1])


@contextlib.contextmanager
def _session(
    port: int, greeting: bytes | None, source: str
) -> Iterator[tuple[socket.socket, BinaryIO]]:
    """A connection from `source` to the loopback `port`, after the server's first line (which
    must start with `greeting`), or at once (None)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0)) as c:
        f = c.makefile("rb")
        if greeting is not None:
            assert f.readline().startswith(greeting)
        yield c, f


def send_to_close(
    port: int, data: bytes, greeting: bytes | None, source: str = "127.0.0.1"
) -> None:
    """`data` sent as is from `source` to the loopback `port` (`_session`); then read until the
    server closes or resets the connection."""
    with _session(port, greeting, source) as (c, f):
        c.sendall(data)
        with contextlib.suppress(ConnectionResetError):
            while f.read(4096):
                pass


def send_and_leave(port: int, data: bytes, greeting: bytes, source: str = "127.0.0.1") -> bytes:
    """`data` sent from `source` to the loopback `port` (`_session`); the server's next line is
    read and returned, then the client closes the connection (a client that gives up)."""
    with _session(port, greeting, source) as (c, f):
        c.sendall(data)
        return f.readline()


def readme_yaml(after: str) -> str:
    """The README's first YAML block after the text `after`, as written."""
    text = (REPO / "README.md").read_text()
    m = re.compile(r"```yaml\n(.*?)```", re.S).search(text, text.index(after))
    assert m is not None
    return m[1]


def checked_config(tmp_path: Path, collectors_and_rules: str) -> tuple[Path, str]:
    """config.yaml in `tmp_path`: `collectors_and_rules`, a state folder there and a webhook
    nothing is sent to (replay sends nothing); `alerter check` must pass it. Returns the path
    and what the check printed."""
    config = tmp_path / "config.yaml"
    config.write_text(
        collectors_and_rules
        + textwrap.dedent(f"""
            global: {{state_dir: {tmp_path}/state}}
            notifiers:
              - {{name: out, type: webhook, url: "http://127.0.0.1:9/unused"}}
            route: {{receiver: out}}
            """)
    )
    check = subprocess.run([*ALERTER, "check", "-c", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    return config, check.stdout


def replay_firing(config: Path, logs: Mapping[str, Path]) -> set[tuple[str, str | None]]:
    """(alert name, `ip` label) of each alert `alerter replay` fires over `logs` (collector
    name -> file)."""
    replay = subprocess.run(
        [*ALERTER, "replay", "-c", str(config), *(f"--log={c}={p}" for c, p in logs.items())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    return {
        (t["alertname"], t["labels"].get("ip"))
        for t in map(json.loads, replay.stdout.splitlines())
        if t["state"] == "firing"
    }
