"""Probes of a running daemon for bench/daemon.py: its /metrics, its CPU and memory in /proc,
a webhook receiver that takes everything, and py-spy attached to it."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

from alerter.harness.crashtest import DaemonProcess, KeyReceiver

# /metrics is scraped every 1/50 of the time waited so far (20 ms to 250 ms): the end is known
# within 2% while the scrapes, which cost the daemon a few ms of CPU each, stay about 50 a case
POLL = (0.02, 0.25, 50)


class SinkReceiver(KeyReceiver):
    """A loopback webhook that answers 200 to everything and counts the calls (KeyReceiver's
    server, without reading the alerts' keys)."""

    def _receive(self, body: bytes) -> int:
        with self._lock:
            self.calls += 1
        return 200


def samples(url: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called `name` on the daemon's /metrics."""
    text = requests.get(f"{url}/metrics", timeout=5).text
    return [
        (s.labels, s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name
    ]


def events(url: str, collectors: Sequence[str]) -> int:
    return int(
        sum(
            v
            for labels, v in samples(url, "alerter_events_total")
            if labels.get("collector") in collectors
        )
    )


def wait_events(daemon: DaemonProcess, collectors: Sequence[str], n: int, timeout: float) -> None:
    start = time.monotonic()
    lo, hi, parts = POLL
    while (seen := events(daemon.url, collectors)) < n:
        waited = time.monotonic() - start
        if daemon.proc.poll() is not None or waited > timeout:
            raise RuntimeError(f"the daemon counted {seen} of {n} events")
        time.sleep(min(hi, max(lo, waited / parts)))


def reload_seconds(daemon: DaemonProcess, timeout: float) -> float:
    """SIGHUP to the daemon, and the seconds until its reload has succeeded (the
    `alerter_config_last_reload_success_timestamp_seconds` it sets at the end)."""
    name = "alerter_config_last_reload_success_timestamp_seconds"
    sent = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    while (done := max(v for _, v in samples(daemon.url, name))) < sent:
        if daemon.proc.poll() is not None or time.time() - sent > timeout:
            raise RuntimeError("the daemon did not reload")
        time.sleep(0.05)
    return done - sent


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid`, with its waited-for children (proc(5))."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def helpers_cpu(pid: int) -> float:
    """CPU seconds of the running children of `pid` (the scan helper)."""
    total = 0.0
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(OSError):  # it exited meanwhile
            total += proc_cpu(child.pid)
    return total


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def children_cpu() -> float:
    """User + system CPU seconds of this process's children that have been waited for."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Profiler:
    """py-spy recording a running process (and its helper) until stopped, in raw format."""

    def __init__(self, out: Path | None, pid: int) -> None:
        self.proc = None
        if out is not None:
            exe = Path(sys.executable).with_name("py-spy")
            self.proc = subprocess.Popen(
                [
                    str(exe),
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--threads",
                    "--subprocesses",
                    "--nonblocking",
                    "--rate",
                    "200",
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(60)
