"""Ban latency, alerter vs fail2ban: from the 5th failed login appended to the log until packets
from that address are dropped, with real packets between two network namespaces.

A server namespace runs the banning daemon and a TCP listener on port 22 that records, per
source address, when it accepted each connection (CLOCK_MONOTONIC is one clock for every
namespace). For each address in turn, a prober in the client namespace opens a connection from
that address every PROBE_MS; once the listener has seen one, 4 failure lines for the address are
appended to the log, then (SPACING later) the 5th; t0 is the moment that write returned. The
address counts as banned when the listener has seen nothing from it for QUIET seconds; the ban
latency is the last accepted connection's time - t0, plus half a probe interval (the first
dropped probe was sent between that one and the next).

  alerter     the real `alerter run` process (file collector, one count rule `>= 5 over 10m by
              ip`, a `type: ban` action on port 22), global.actions_per_minute raised for the
              run (the default 30/min would refuse most of 50 bans in one minute, by design)
  fail2ban    fail2ban-server 1.0.2 (Debian's) with its stock configuration copied from
              /etc/fail2ban (sshd filter, maxretry 5, findtime 10m) and a jail.local that only
              points the sshd jail at the log, selects `banaction = nftables` and sets
              `backend = auto` (pyinotify when /usr/bin/python3 has it, else polling); its own
              config dir, socket, pidfile and database in a temp dir; run in the same namespace
              after alerter has stopped, on other addresses

    .venv/bin/python bench/ban.py [--addresses 50]     # as root
    .venv/bin/python bench/ban.py --quick              # 3 addresses each, a smoke run

Goal (issue 14): alerter p99 < 100 ms and at least 5x faster than fail2ban's p50.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alerter.harness.netns import SERVER_V4, NetnsPair, ssh_ban_rules  # noqa: E402

ALERTER = REPO / ".venv" / "bin" / "alerter"
PORT = 22
PROBE_MS = 2.0
SPACING = 0.2  # between the 4th and the 5th failure line
QUIET = 1.0  # nothing accepted from the address for this long: it is banned
BAN_TIMEOUT = 15.0

# Opens a connection from SRC to DST:PORT every INTERVAL seconds (non-blocking; each socket is
# closed 50 ms later, before SYN retransmission), until killed.
_PROBER = """
import socket, sys, time
src, dst, port, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
open_socks = []
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((src, 0))
    s.connect_ex((dst, port))
    now = time.monotonic()
    open_socks.append((now, s))
    while open_socks and now - open_socks[0][0] > 0.05:
        open_socks.pop(0)[1].close()
    time.sleep(interval)
"""


class Recorder:
    """The listener's accepted connections, per address, read from its stdout on a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lock = threading.Lock()
        self.seen: dict[str, list[float]] = {}
        assert proc.stdout is not None
        assert proc.stdout.readline() == "listening\n"
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, out: IO[str]) -> None:
        for line in out:
            addr, t = line.split()
            with self.lock:
                self.seen.setdefault(addr, []).append(float(t))

    def last(self, addr: str) -> float | None:
        with self.lock:
            times = self.seen.get(addr)
            return times[-1] if times else None


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def failure_lines(addr: str, n: int, first: int) -> str:
    stamp = dt.datetime.now().strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1)
    return "".join(
        f"{stamp} bench sshd[{4000 + first + i}]: Failed password for root from {addr} "
        f"port {50000 + first + i} ssh2\n"
        for i in range(n)
    )


def measure(net: NetnsPair, rec: Recorder, log: Path, addrs: list[str]) -> list[float | None]:
    """Ban latency (seconds) per address; None when it was not banned within BAN_TIMEOUT."""
    out: list[float | None] = []
    for addr in addrs:
        argv = [sys.executable, "-c", _PROBER, addr, SERVER_V4, str(PORT), str(PROBE_MS / 1000)]
        prober = net.popen(net.client, argv)
        try:
            if not _until(lambda: rec.last(addr) is not None, 10):  # noqa: B023 (called here)
                raise RuntimeError(f"no connection from {addr} reached the listener")
            with log.open("a") as f:
                f.write(failure_lines(addr, 4, 0))
            time.sleep(SPACING)  # the bench's pacing, not synchronisation: the 5th comes later
            with log.open("a") as f:
                f.write(failure_lines(addr, 1, 4))
            t0 = time.monotonic()

            def quiet(a: str = addr, t0: float = t0) -> bool:
                last = rec.last(a)
                return last is not None and time.monotonic() - max(last, t0) >= QUIET

            if _until(quiet, BAN_TIMEOUT + QUIET):
                last = rec.last(addr)
                assert last is not None
                out.append(max(0.0, last - t0) + PROBE_MS / 2000)
            else:
                out.append(None)
        finally:
            prober.terminate()
            prober.wait(5)
    return out


def start_alerter(net: NetnsPair, d: Path, log: Path) -> subprocess.Popen[Any]:
    (d / "rules.yaml").write_text(ssh_ban_rules(5, invalid_user=True))
    (d / "config.yaml").write_text(
        f"""
global: {{state_dir: {d}/state, evaluation_interval: 1s, actions_per_minute: 10000}}
server: {{listen: "127.0.0.1:9753"}}
collectors:
  - {{name: auth, type: file, paths: ["{log}"], parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers: [{{name: console, type: console}}]
actions:
  - {{name: ban, type: ban, address: "{{{{ labels.ip }}}}", duration: 1h, ports: [{PORT}]}}
"""
    )
    out = (d / "alerter.out").open("w")
    argv = [str(ALERTER), "run", "-c", str(d / "config.yaml"), "--log-format", "json"]
    proc = net.popen(net.server, argv, stdout=out, stderr=subprocess.STDOUT)
    if not _until(lambda: "alerter_started" in (d / "alerter.out").read_text(), 30):
        raise RuntimeError("alerter did not start:\n" + (d / "alerter.out").read_text()[-2000:])
    return proc


def start_fail2ban(net: NetnsPair, d: Path, log: Path) -> tuple[subprocess.Popen[Any], str]:
    conf = d / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    (conf / "fail2ban.local").write_text(
        f"[Definition]\nloglevel = INFO\nlogtarget = {d}/fail2ban.log\n"
        f"socket = {d}/fail2ban.sock\npidfile = {d}/fail2ban.pid\ndbfile = {d}/fail2ban.sqlite3\n"
    )
    (conf / "jail.local").write_text(
        f"[DEFAULT]\nbanaction = nftables\nbanaction_allports = nftables[type=allports]\n\n"
        f"[sshd]\nenabled = true\nport = {PORT}\nlogpath = {log}\nbackend = auto\n"
    )
    argv = ["fail2ban-server", "-f", "-x", "-c", str(conf), "-s", f"{d}/fail2ban.sock",
            "-p", f"{d}/fail2ban.pid", "start"]  # fmt: skip
    proc = net.popen(net.server, argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    flog = d / "fail2ban.log"
    if not _until(lambda: flog.exists() and "Jail 'sshd' started" in flog.read_text(), 30):
        raise RuntimeError(
            "fail2ban did not start:\n" + (flog.read_text() if flog.exists() else "")
        )
    m = re.search(r"Jail 'sshd' uses (\w+)", flog.read_text())  # poller, pyinotify, ...
    return proc, m.group(1) if m else "unknown"


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0-1), nearest rank."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def summary(name: str, lat: list[float | None]) -> tuple[float, float]:
    ok = [x for x in lat if x is not None]
    missed = len(lat) - len(ok)
    if not ok:
        print(f"{name:<10} no address banned within {BAN_TIMEOUT:g}s")
        return float("nan"), float("nan")
    p50, p99 = statistics.median(ok), pct(ok, 0.99)
    print(
        f"{name:<10} p50 {p50 * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms   "
        f"min {min(ok) * 1000:7.1f}   max {max(ok) * 1000:8.1f}   banned {len(ok)}/{len(lat)}"
        + (f"   NOT BANNED {missed}" if missed else "")
    )
    return p50, p99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--addresses", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="3 addresses each")
    args = ap.parse_args()
    n = 3 if args.quick else args.addresses
    if os.geteuid() != 0:
        print("bench/ban.py: needs root (network namespaces, nftables)", file=sys.stderr)
        return 2
    if not 1 <= n <= 100:
        print("bench/ban.py: --addresses from 1 to 100", file=sys.stderr)
        return 2
    ours = [f"192.0.2.{100 + i}" for i in range(n)]
    theirs = [f"192.0.2.{150 + i}" if i < 50 else f"192.0.2.{200 + i - 50}" for i in range(n)]
    with (
        tempfile.TemporaryDirectory(prefix="banbench-") as tmp,
        NetnsPair("banb", ours + theirs) as net,
    ):
        d = Path(tmp)
        rproc = net.popen(
            net.server,
            NetnsPair.listener_argv(PORT, record=True),
            stdout=subprocess.PIPE,
            text=True,
        )
        rec = Recorder(rproc)
        print(f"ban bench: {n} addresses each, probe every {PROBE_MS:g} ms, {os.cpu_count()} CPUs")

        (d / "a").mkdir()
        alog = d / "a" / "auth.log"
        alog.write_text("")
        aproc = start_alerter(net, d / "a", alog)
        try:
            ours_lat = measure(net, rec, alog, ours)
        finally:
            stop(aproc)
        net.nft("delete", "table", "inet", "alerter")

        (d / "f").mkdir()
        flog = d / "f" / "auth.log"
        flog.write_text("")
        fproc, backend = start_fail2ban(net, d / "f", flog)
        try:
            theirs_lat = measure(net, rec, flog, theirs)
        finally:
            stop(fproc)

        a50, a99 = summary("alerter", ours_lat)
        f50, _ = summary("fail2ban", theirs_lat)
        print(f"fail2ban backend: {backend}")
        print(
            f"alerter p99 {a99 * 1000:.1f} ms (goal < 100 ms); fail2ban p50 / alerter p50 = "
            f"{f50 / a50:.1f}x (goal >= 5x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
