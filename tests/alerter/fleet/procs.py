"""Real processes for the fleet tests: alerter daemons (`alerter run`), Prometheus and
Alertmanager peers, each on loopback ports of its own, with its own directory, stopped by PID
(SIGTERM, then SIGKILL) when the test ends."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from alerter.harness.crashtest import DaemonProcess
from alerter.testing import free_port
from tests.conftest import require, stop_process, wait_for

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


@dataclass
class Server:
    """A child process serving HTTP at `url`, its output in `log`."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"exited early:\n{self.log.read_text()[-3000:]}"
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(f"{self.url}{path}", params=params, timeout=5)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc)


@contextlib.contextmanager
def server(argv: list[str], url: str, log: Path, timeout: float = 30) -> Iterator[Server]:
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    s = Server(proc, url, log)
    try:
        wait_for(s.ready, timeout=timeout)
        yield s
    finally:
        s.stop()


@dataclass
class Host:
    """One alerter daemon of the fleet: its directory, log file and API URL."""

    name: str
    dir: Path
    port: int
    daemon: DaemonProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, text: str, file: str = "app.log") -> None:
        with (self.dir / file).open("a") as f:
            f.write(text)


def host_config(d: Path, name: str, port: int, rules: Path, extra: str = "") -> Path:
    cfg = d / "config.yaml"
    cfg.write_text(
        f"""
global: {{state_dir: "{d / "state"}", evaluation_interval: 1s, labels: {{host: {name}}}}}
server: {{listen: "127.0.0.1:{port}"}}
collectors:
  - {{name: app, type: file, paths: ["{d / "app.log"}"], start_at: beginning}}
rule_files: ["{rules}"]
{extra}
"""
    )
    (d / "app.log").write_text("")
    return cfg


@contextlib.contextmanager
def fleet(tmp: Path, rules: str, names: tuple[str, ...], extra: str = "") -> Iterator[list[Host]]:
    """One `alerter run` process per name (host label = the name), all reading the same rules."""
    (tmp / "rules.yaml").write_text(rules)
    hosts: list[Host] = []
    try:
        for name in names:
            d = tmp / name
            d.mkdir()
            port = free_port()
            cfg = host_config(d, name, port, tmp / "rules.yaml", extra)
            hosts.append(Host(name, d, port, DaemonProcess(cfg, port, d / "alerter.log")))
        for h in hosts:
            h.daemon.wait_ready(60)
        yield hosts
    finally:
        for h in hosts:
            h.daemon.stop()


@contextlib.contextmanager
def prometheus(tmp: Path, targets: dict[str, str]) -> Iterator[Server]:
    """Prometheus scraping each target (host label -> host:port) every half second."""
    require(PROMETHEUS)
    cfg = tmp / "prometheus.yml"
    static = "".join(
        f'      - {{targets: ["{t}"], labels: {{host: {h}}}}}\n' for h, t in targets.items()
    )
    cfg.write_text(
        "global: {scrape_interval: 500ms, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: alerter\n"
        "    static_configs:\n" + static
    )
    port = free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tmp / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with server(argv, f"http://127.0.0.1:{port}", tmp / "prometheus.log") as s:
        yield s


def alertmanager_argv(
    tmp: Path, name: str, config: Path, web: int, listen: int, peers: list[int]
) -> list[str]:
    """An Alertmanager peer, its gossip fast (settles in about a second). The second peer in
    the cluster's order waits peer_timeout (5s) for the first one's notification log, and a
    peer is probed every second with 500 ms to answer: shorter, a loaded machine sees a slow
    peer as gone or its log as missing, and both peers notify."""
    require(ALERTMANAGER)
    return [
        ALERTMANAGER,
        f"--config.file={config}",
        f"--storage.path={tmp / name}",
        f"--web.listen-address=127.0.0.1:{web}",
        f"--cluster.listen-address=127.0.0.1:{listen}",
        *(f"--cluster.peer=127.0.0.1:{p}" for p in peers),
        "--cluster.gossip-interval=50ms",
        "--cluster.pushpull-interval=1s",
        "--cluster.peer-timeout=5s",
        "--cluster.settle-timeout=2s",
        "--cluster.probe-interval=1s",
        "--cluster.probe-timeout=500ms",
        "--cluster.reconnect-interval=1s",
    ]
