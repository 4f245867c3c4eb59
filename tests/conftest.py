"""Shared fixtures: a real systemd sandbox, a loopback HTTP receiver, a fresh metrics registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SANDBOX_TOOL = REPO.parent / "shared" / "tools" / "systemd-sandbox"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until predicate() is truthy; return its value or fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(
                f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(interval)


class Sandbox:
    """A private systemd + journald (PID 1 in its own PID/mount namespace)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def run(
        self, *cmd: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SANDBOX_TOOL), "exec", str(self.pid), *cmd],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            input=input,
        )

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", *args, check=check)

    def show(self, unit: str, prop: str) -> str:
        return self.systemctl("show", "-p", prop, "--value", unit).stdout.strip()

    def write_unit(self, name: str, text: str) -> None:
        self.run("sh", "-c", f"cat > /run/systemd/system/{name}", input=text)
        self.systemctl("daemon-reload")


def sandbox_available() -> str | None:
    if os.geteuid() != 0:
        return "systemd sandbox needs root"
    if not SANDBOX_TOOL.exists():
        return f"{SANDBOX_TOOL} not found"
    if not os.path.exists("/lib/systemd/systemd"):
        return "systemd not installed"
    return None


@pytest.fixture
def systemd_sandbox() -> Iterator[Sandbox]:
    why = sandbox_available()
    if why:
        pytest.fail(why)  # integration tests run in CI as root; a missing sandbox is a failure
    out = subprocess.run([str(SANDBOX_TOOL), "start"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"sandbox did not start: {out.stderr}"
    sb = Sandbox(int(out.stdout.strip().splitlines()[-1]))
    try:
        # /var/log is the host's: give this sandbox's journald its own journal, so concurrent
        # sandboxes do not write into (and corrupt) one shared journal file.
        sb.run(
            "sh",
            "-c",
            "mkdir -p /var/log/journal && mount -t tmpfs -o mode=2755 tmpfs /var/log/journal"
            " && systemctl restart systemd-journald",
        )
        yield sb
    finally:
        subprocess.run([str(SANDBOX_TOOL), "stop", str(sb.pid)], timeout=60, check=False)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HTTPReceiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers with scripted statuses."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # consumed one per request; then 200
    headers_to_send: dict[str, str] = field(default_factory=dict)
    event: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.event:
            ok = self.event.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"expected {count} requests, got {len(self.requests)}"
        return list(self.requests)


def start_receiver(port: int = 0) -> HTTPReceiver:
    holder: dict[str, HTTPReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            rec = holder["r"]
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            with rec.event:
                status = rec.statuses.pop(0) if rec.statuses else 200
                if 200 <= status < 300:
                    rec.requests.append(Received(self.command, self.path, dict(self.headers), body))
                    rec.event.notify_all()
                else:
                    rec.failed = getattr(rec, "failed", 0) + 1
            self.send_response(status)
            for k, v in rec.headers_to_send.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_GET = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    rec = HTTPReceiver(server)
    holder["r"] = rec
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return rec


@pytest.fixture
def http_receiver() -> Iterator[HTTPReceiver]:
    rec = start_receiver()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()


@pytest.fixture
def venv_bin() -> Path:
    """Directory holding the installed `alerter` console script."""
    exe = shutil.which("alerter")
    assert exe, "alerter is not installed in this environment (run via make test)"
    return Path(exe).parent
