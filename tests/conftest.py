"""Shared fixtures: a real systemd sandbox, a loopback HTTP receiver, a fresh metrics registry;
the policy for integration tests that cannot run here (skip with one reason, listed at the end of
the run; with CI=true, a failure)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests import sandbox
from tests.sandbox import INSTALL_HINT, Sandbox

if TYPE_CHECKING:
    import pluggy  # (pytest's plugin library: the hook wrapper's outcome)

__all__ = [
    "REPO",
    "HTTPReceiver",
    "Sandbox",
    "local_tz",
    "receiving",
    "require",
    "stop_process",
    "wait_for",
]

REPO = Path(__file__).resolve().parent.parent
SKIP_SUMMARY_TITLE = "skipped tests, by reason"


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


def require(program: str) -> str:
    """The path of `program` (a name on PATH or an absolute path), or skip saying how to get it.

    For integration tests: installed by tests/system-deps.sh; in CI a skip fails the run.
    """
    found = shutil.which(program) if "/" not in program else program
    if found and os.access(found, os.X_OK):
        return found
    pytest.skip(f"{Path(program).name} not installed: {INSTALL_HINT}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """End a child the test started: SIGTERM, then SIGKILL if it has not exited in `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(autouse=True)
def structlog_as_it_was() -> Iterator[None]:
    """A test that configures logging (`configure_logging`, or the CLI's `main` in-process:
    info level, loggers cached on first use) leaves structlog as it found it, so a later test's
    `capture_logs` sees the debug lines it asks about."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.reset_defaults()
    structlog.configure(**saved)


@pytest.fixture
def systemd_sandbox() -> Iterator[Sandbox]:
    """A private systemd + journald (tests/sandbox.py), stopped after the test whatever happens."""
    why = sandbox.unavailable()
    if why:
        pytest.skip(why)
    sb = sandbox.start()
    try:
        yield sb
    finally:
        sb.stop()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    """With CI=true, a skipped integration test is a failure: CI runs every one of them."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("integration") is not None
        and in_ci()
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"integration test skipped with CI={os.environ['CI']}: {_skip_reason(report)}\n"
            "CI must run every integration test: run it as root on Debian after"
            " tests/system-deps.sh (.ci/run does both)."
        )


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report: pytest.CollectReport) -> None:
    """With CI=true, a module skipped as it is collected (`importorskip` at its top) fails too."""
    if report.skipped and in_ci():
        report.outcome = "failed"
        report.longrepr = (
            f"test module skipped at collection with CI={os.environ['CI']}: {_skip_reason(report)}"
        )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """What was skipped and why, one line per reason, integration tests counted apart."""
    by_reason: dict[str, list[pytest.TestReport | pytest.CollectReport]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        by_reason.setdefault(_skip_reason(report), []).append(report)
    if not by_reason:
        return
    terminalreporter.section(SKIP_SUMMARY_TITLE)
    for reason, reports in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        n = len(reports)
        integration = sum("integration" in getattr(r, "keywords", {}) for r in reports)
        kind = "all integration" if integration == n else f"{integration} integration"
        tests = f"{n} test{'s' if n > 1 else ''}" + (f" ({kind})" if integration else "")
        terminalreporter.write_line(f"{tests}: {reason}")
        terminalreporter.write_line(f"      e.g. {reports[0].nodeid}")
    if any(
        "integration" in getattr(r, "keywords", {})
        for reports in by_reason.values()
        for r in reports
    ):
        terminalreporter.write_line(
            "Integration tests are not skipped in CI: with CI=true each one here fails the run."
        )


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
    failed: int = 0  # requests answered with a scripted status that is not 2xx

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # (an AF_INET server: bytes would be an AF_UNIX path)
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
                    rec.failed += 1
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


@contextlib.contextmanager
def receiving() -> Iterator[HTTPReceiver]:
    """A receiver (start_receiver) on a free port, shut down and closed when the block ends."""
    rec = start_receiver()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()


@pytest.fixture
def http_receiver() -> Iterator[HTTPReceiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set the process's local time zone (`local_tz("America/New_York")`): TZ and tzset, undone
    (and tzset again) after the test, so a test about local time does not depend on the host's."""

    def set_tz(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_tz
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def venv_bin() -> Path:
    """Directory holding the installed `alerter` console script."""
    exe = shutil.which("alerter")
    assert exe, "alerter is not installed in this environment (run via make test)"
    return Path(exe).parent
