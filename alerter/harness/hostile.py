"""Tools for bench/hostile.py: watch a live daemon from outside while hostile inputs hit it.

- `WatchdogListener` stands in for systemd: the daemon's NOTIFY_SOCKET is a datagram socket it
  owns, so the main loop's WATCHDOG=1 pings arrive here, each stamped by the kernel on arrival
  (SO_TIMESTAMPNS, so a busy bench process cannot make a gap look longer than it was). The
  longest interval between pings is what systemd's watchdog would have seen.
- `RssSampler` samples the resident memory of the daemon and its helper processes.
- `LogFile` appends lines to a followed log and counts them; `Harness` runs the real
  `alerter run` on a config a user would write and gives the bench its API, metrics and reloads.
The hostile receivers and scrape targets are alerter/harness/servers.py.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

from alerter.harness.crashtest import DaemonProcess
from alerter.testing import free_port

T = TypeVar("T")

SO_TIMESTAMPNS = 35  # Linux (asm-generic); the socket module does not export it
MIB = 1 << 20


class WatchdogListener:
    """Receives sd_notify datagrams at `path`; records when each WATCHDOG=1 arrived."""

    def __init__(self, path: Path, interval: float = 0.2) -> None:
        self.path = path
        self.interval = interval  # the daemon pings every WATCHDOG_USEC / 2
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._sock.bind(str(path))
        self._sock.settimeout(0.5)
        self._pings: list[float] = []
        self._messages: list[tuple[float, str]] = []  # everything else: READY=1, STATUS=...
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="watchdog-listener").start()

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": str(int(self.interval * 2e6))}

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                msg, anc, _, _ = self._sock.recvmsg(4096, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            except OSError:
                return
            at = time.time()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack("qq", data[:16])
                    at = sec + nsec / 1e9
            with self._lock:
                if msg == b"WATCHDOG=1":
                    self._pings.append(at)
                else:
                    self._messages.append((at, msg.decode(errors="replace")))

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time in [start, end] (time.time()) without a ping, counting from `start`
        to the first ping and from the last ping to `end` (a stall still running counts)."""
        with self._lock:
            inside = [t for t in self._pings if start <= t <= end]
        marks = [start, *inside, end]
        return max(b - a for a, b in itertools.pairwise(marks))

    def pings(self) -> list[float]:
        with self._lock:
            return list(self._pings)

    def count(self) -> int:
        with self._lock:
            return len(self._pings)

    def ready_after(self, since: float) -> str | None:
        """The first READY=1 message received after `since` (its STATUS says how a reload
        went), or None."""
        with self._lock:
            for at, text in self._messages:
                if at > since and "READY=1" in text.split("\n"):
                    return text
        return None

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 once it is gone)."""
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        with contextlib.suppress(psutil.Error):
            total += q.memory_info().rss
    return total


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class RssSampler:
    """Samples `tree_rss(pid)` every `every` seconds; `peak` is the highest since `reset`."""

    def __init__(self, every: float = 0.1) -> None:
        self.pid = 0
        self.peak = 0
        self.peak_fds = 0
        self._every = every
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="rss-sampler").start()

    def watch(self, pid: int) -> None:
        self.pid = pid

    def reset(self) -> int:
        now = tree_rss(self.pid) if self.pid else 0
        self.peak, self.peak_fds = now, open_fds(self.pid) if self.pid else 0
        return now

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if self.pid:
                self.peak = max(self.peak, tree_rss(self.pid))
                self.peak_fds = max(self.peak_fds, open_fds(self.pid))

    def close(self) -> None:
        self._stop.set()


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def syslog_line(message: str, tag: str = "app[4242]") -> str:
    """One RFC 3164 line stamped now, as rsyslog writes /var/log/syslog."""
    return f"{time.strftime('%b %e %H:%M:%S')} hostile {tag}: {message}\n"


class LogFile:
    """A followed log: appends whole lines (any thread) and counts them; `rotate` renames it
    away and starts a new one, as logrotate does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self._lock = threading.Lock()
        self._rotations = 0
        path.touch()

    def write(self, text: str | bytes, lines: int) -> None:
        data = text.encode() if isinstance(text, str) else text
        with self._lock, self.path.open("ab") as f:
            f.write(data)
            self.lines += lines

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No line is written while inside."""
        with self._lock:
            yield

    def rotate(self) -> None:
        with self._lock:
            self._rotations += 1
            os.rename(self.path, self.path.with_name(f"{self.path.name}.{self._rotations}"))
            self.path.touch()


CONFIG = """\
# What an operator would write: the system log with the shipped packs, an application log with
# multiline events, host metrics, one scraped target, a webhook, the API behind a token.
global: {{state_dir: "{dir}/state", evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:{port}", token_file: "{dir}/token"}}
collectors:
  - {{name: syslog, type: file, paths: ["{dir}/syslog.log"], start_at: beginning,
     parser: {{type: syslog}}}}
  - name: app
    type: file
    paths: ["{dir}/app.log"]
    start_at: beginning
    parser: {{type: none}}
    multiline: {{start: '{multiline_start}'}}
  - {{name: host, type: host, interval: 2s}}
  - {{name: scrape, type: prometheus, url: "{scrape_url}", interval: 2s, timeout: 1s}}
{extra_collectors}
rule_files: [rules.yaml, "builtin:kernel", "builtin:sshd"{extra_rule_files}]
notifiers:
  - {{name: hook, type: webhook, url: "{hook_url}", timeout: {hook_timeout}, max_age: 1h}}
{extra_notifiers}
route: {route}
"""

RULES = r"""
groups:
  - name: app
    rules:
      - alert: RequestFailed          # one alert per key
        logs: {source: syslog, match: 'request failed key=(?P<key>\S+)'}
        aggregate: count
        over: 10m
        by: [key]
        threshold: ">= 1"
        max_keys: 10000
      - alert: SessionFlapping        # keys that churn: few reach the threshold
        logs: {source: syslog, match: 'session key=(?P<key>\S+)'}
        aggregate: count
        over: 10m
        by: [key]
        threshold: ">= 5"
        max_keys: 1000
      - alert: StormKey               # an alert per key, as many keys as a storm brings
        logs: {source: syslog, match: 'storm key=(?P<key>\S+)'}
        aggregate: count
        over: 10m
        by: [key]
        threshold: ">= 1"
        max_keys: 100000
      - alert: AppError
        logs: {source: app, match: '^ERROR'}
        aggregate: count
        over: 1m
        threshold: ">= 1"
"""


class Harness:
    """One daemon under test in directory `d`: its config, logs, API and watchdog."""

    TOKEN = "hostile-bench-token"

    def __init__(self, d: Path, hook_url: str, scrape_url: str, **cfg: str) -> None:
        self.d = d
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.nofile = 1024  # systemd's default soft LimitNOFILE
        self.cfg_path = d / "config.yaml"
        self.settings = {
            "port": str(self.port),
            "dir": str(d),
            "hook_url": hook_url,
            "scrape_url": scrape_url,
            "hook_timeout": "5s",
            "extra_collectors": "",
            "extra_rule_files": "",
            "extra_notifiers": "",
            "route": "{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s,"
            " repeat_interval: 1h}",
            "multiline_start": r"^\S",
            **cfg,
        }
        (d / "token").write_text(self.TOKEN + "\n")
        (d / "rules.yaml").write_text(RULES)
        self.cfg_path.write_text(self.config_text())
        self.syslog = LogFile(d / "syslog.log")
        self.app = LogFile(d / "app.log")
        self.listener = WatchdogListener(d / "notify.sock")
        self.sampler = RssSampler()
        self.session = requests.Session()
        self.daemon: DaemonProcess | None = None
        self.counted_before = 0  # syslog lines counted by the daemons before a restart
        self.segments: list[list[float]] = []  # [start, end] of each watched stretch
        self.metric_gaps: list[float] = []  # the daemon's own gauge, at the end of each stretch

    def config_text(self, **overrides: str) -> str:
        return CONFIG.format(**{**self.settings, **overrides})

    @property
    def pid(self) -> int:
        assert self.daemon is not None
        return int(self.daemon.proc.pid)

    def start(self, timeout: float = 90.0) -> float:
        """Start `alerter run` and wait until it is ready; returns how long that took."""
        started = time.monotonic()
        # the daemon runs the same checkout as the bench (the alerter package imported here)
        checkout = str(Path(__file__).resolve().parent.parent)
        env = {**self.listener.env(), "PYTHONPATH": checkout}
        self.daemon = DaemonProcess(self.cfg_path, self.port, self.d / "alerter.log", env=env)
        with contextlib.suppress(psutil.Error):
            psutil.Process(self.pid).rlimit(psutil.RLIMIT_NOFILE, (self.nofile, self.nofile))
        self.daemon.wait_ready(timeout)
        self.sampler.watch(self.pid)
        return time.monotonic() - started

    def begin(self) -> None:
        self.segments.append([time.time(), 0.0])

    def end(self) -> None:
        if self.segments and not self.segments[-1][1]:
            self.segments[-1][1] = time.time()
            with contextlib.suppress(requests.RequestException, ValueError):
                self.metric_gaps.append(self.value("alerter_main_loop_longest_gap_seconds"))

    def longest_gap(self) -> float:
        return max(self.listener.longest_gap(a, b) for a, b in self.segments)

    def restart(self, timeout: float = 120.0) -> float:
        """Stop (SIGTERM) once every line is counted, and start again on the same state; the
        downtime is not a gap. Returns how long the new daemon took to be ready."""
        self.end()
        assert self.daemon is not None
        with self.syslog.paused():
            wait_for(lambda: self.behind() <= 0, timeout)
            self.counted_before += int(self.value("alerter_events_total", collector="syslog"))
            self.daemon.stop(timeout=30)
        took = self.start()
        self.begin()
        return took

    def metrics(self, timeout: float = 5.0) -> str:
        r = self.session.get(f"{self.url}/metrics", timeout=timeout)
        r.raise_for_status()
        return r.text

    def value(self, name: str, **labels: str) -> float:
        return metric(self.metrics(), name, **labels)

    def api(self, method: str, path: str, token: bool = True, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.TOKEN}"} if token else {}
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.url + path, headers=headers, **kw)

    def reload(self, text: str | None = None, timeout: float = 60.0) -> tuple[bool, float, str]:
        """Write `text` as the config (if given) and SIGHUP; wait for the daemon's READY=1.
        Returns (took it, seconds, its STATUS)."""
        if text is not None:
            self.cfg_path.write_text(text)
        assert self.daemon is not None
        sent = time.time()
        self.daemon.proc.send_signal(signal.SIGHUP)
        status = wait_for(lambda: self.listener.ready_after(sent), timeout)
        took = time.time() - sent
        if status is None:
            return False, took, "no READY=1 after SIGHUP"
        line = next((x[7:] for x in status.split("\n") if x.startswith("STATUS=")), "")
        return "reload FAILED" not in line, took, line

    def behind(self) -> int:
        """Lines written to the system log that the engine has not yet counted."""
        counted = int(self.value("alerter_events_total", collector="syslog"))
        return self.syslog.lines - self.counted_before - counted

    def close(self) -> tuple[int | None, float]:
        """Stop the daemon (SIGTERM, SIGKILL after 30 s): its exit status, seconds taken."""
        t = time.monotonic()
        code = self.daemon.stop(timeout=30) if self.daemon is not None else None
        took = time.monotonic() - t
        self.listener.close()
        self.sampler.close()
        self.session.close()
        return code, took


def wait_for(cond: Callable[[], T | None], timeout: float, every: float = 0.1) -> T | None:
    """Poll `cond` until it returns something truthy or `timeout` passes (errors count as no)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = cond()
        except (requests.RequestException, ValueError, OSError):
            got = None
        if got:
            return got
        if time.monotonic() >= deadline:
            return None
        time.sleep(every)
