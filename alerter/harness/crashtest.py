"""Tools for the kill-loop test and the soak bench: a writer that appends distinct-key lines and
rotates its file (rename or copytruncate), a loopback webhook receiver that records which keys
were notified (and can fail a share of calls), and the real `alerter run` process.

Both tools answer one question: did every key written reach the receiver, however often the
daemon was killed, the file rotated and the receiver failed?
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

LINE = "crashtest KEY {key} request failed\n"
MATCH = r"crashtest KEY (?P<key>\d+) "


def config_text(log: Path, state: Path, hook_url: str, api_port: int) -> str:
    """A config a user would write: one file, one keyed count rule, one webhook."""
    return f"""
global: {{state_dir: "{state}", evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:{api_port}"}}
collectors:
  - {{name: app, type: file, paths: ["{log}"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{hook_url}", timeout: 5s, max_age: 1h}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s,
        repeat_interval: 1h}}
"""


def rules_text(over: str) -> str:
    """One alert per key, resolved `over` after its last line (so groups stay small)."""
    return f"""
groups:
  - name: crashtest
    rules:
      - alert: KeySeen
        logs: {{source: app, match: '{MATCH}'}}
        aggregate: count
        over: {over}
        by: [key]
        threshold: ">= 1"
        max_keys: 1000000
"""


def write_config(directory: Path, hook_url: str, api_port: int, over: str = "5s") -> Path:
    (directory / "rules.yaml").write_text(rules_text(over))
    cfg = directory / "config.yaml"
    cfg.write_text(config_text(directory / "app.log", directory / "state", hook_url, api_port))
    (directory / "app.log").touch()
    return cfg


class RotatingWriter:
    """Appends `LINE` with keys 0, 1, 2, ... (a new key every `per_key` lines) to `path`;
    `rotate` renames or copy-truncates it.

    The writer and the rotation hold one lock, so a copytruncate loses no line of the writer's
    (logrotate's own window between copy and truncate is not what is tested here)."""

    def __init__(self, path: Path, per_key: int = 1) -> None:
        self.path = path
        self.per_key = per_key
        self.written = 0
        self.rotations: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._n = 0

    def write(self, count: int) -> None:
        with self._lock, self.path.open("a") as f:
            n, k = self.written, self.per_key
            f.write("".join(LINE.format(key=(n + i) // k) for i in range(count)))
            self.written += count

    def keys(self) -> set[str]:
        """Every key written so far."""
        return {str(k) for k in range((self.written + self.per_key - 1) // self.per_key)}

    def rotate(self, how: str) -> None:
        with self._lock:
            self._n += 1
            rotated = self.path.with_name(f"{self.path.name}.{self._n}")
            if how == "rename":
                os.rename(self.path, rotated)
                self.path.touch()
            else:
                shutil.copyfile(self.path, rotated)
                with self.path.open("r+") as f:
                    f.truncate(0)
            self.rotations[how] += 1


class KeyReceiver:
    """A webhook receiver on 127.0.0.1 that records the firing episodes (`startsAt`) of each
    `key` label and answers 500 to a share `fail` of the calls (seeded, so a run can be
    repeated). A group notification lists every alert of its group, so one episode is seen
    many times; a second episode of a key is a duplicate (its lines were read twice)."""

    def __init__(self, fail: float = 0.0, seed: int = 1) -> None:
        self.seen: dict[str, set[str]] = collections.defaultdict(set)
        self.first: dict[str, float] = {}  # key -> time.monotonic() its first firing arrived
        self._arrived = threading.Condition()
        self.calls = self.failed = 0
        self._fail = fail
        self._rnd = random.Random(seed)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._receive(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _receive(self, body: bytes) -> int:
        with self._lock:
            self.calls += 1
            if self._rnd.random() < self._fail:
                self.failed += 1
                return 500
            now = time.monotonic()
            for alert in json.loads(body).get("alerts", ()):
                if alert.get("status") == "firing":
                    self.seen[alert["labels"]["key"]].add(alert["startsAt"])
                    self.first.setdefault(alert["labels"]["key"], now)
        with self._arrived:
            self._arrived.notify_all()
        return 200

    def wait_first(self, key: str, timeout: float) -> float | None:
        """When (time.monotonic) the first firing notification of `key` arrived, waiting up to
        `timeout` seconds for it; None if it did not."""
        with self._arrived:
            self._arrived.wait_for(lambda: key in self.first, timeout)
        with self._lock:
            return self.first.get(key)

    def keys(self) -> set[str]:
        with self._lock:
            return set(self.seen)

    def duplicates(self) -> int:
        with self._lock:
            return sum(len(episodes) - 1 for episodes in self.seen.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DaemonProcess:
    """`alerter run -c CFG` as a child process, logging JSON to `log`."""

    def __init__(
        self, cfg: Path, api_port: int, log: Path, env: dict[str, str] | None = None
    ) -> None:
        """`env` is added to this process's environment for the child (e.g. NOTIFY_SOCKET)."""
        self.url = f"http://127.0.0.1:{api_port}"
        with log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "alerter", "run", "-c", str(cfg), "--log-format", "json"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env} if env else None,
            )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"alerter exited early with {self.proc.returncode}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError("alerter did not become ready")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no chance to save anything."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)

    def rss_and_fds(self) -> tuple[int, int]:
        """Resident bytes and open descriptors of the daemon process (Linux /proc)."""
        pid = self.proc.pid
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
