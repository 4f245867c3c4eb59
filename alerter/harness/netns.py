"""Two network namespaces joined by a veth pair, for tests and benches that send real packets.

    with NetnsPair("bant", clients=["192.0.2.2", "2001:db8::2"]) as net:
        listener = net.popen_server(net.listener_argv(2222))
        assert net.connect("192.0.2.2", 2222)

The server side has 192.0.2.1/24 and 2001:db8::1/64, the client side every address given (from
the documentation ranges 192.0.2.0/24 and 2001:db8::/64). Names are unique per pair (a prefix and
random hex), so runs side by side do not meet. Closing kills what still runs in the namespaces
(only processes started there, by this pair's user) and deletes both. Needs root (CAP_SYS_ADMIN
and CAP_NET_ADMIN) and `ip` from iproute2.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

SERVER_V4 = "192.0.2.1"
SERVER_V6 = "2001:db8::1"

# connect from SRC to DST:PORT within TIMEOUT seconds: exit 0 when it connected, 1 when not
_CONNECT = """
import socket, sys
src, dst, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(timeout)
try:
    s.bind((src, 0))
    s.connect((dst, port))
except OSError:
    sys.exit(1)
s.close()
"""

# accept on [::]:PORT (IPv4 too) and close each connection at once; with "record", print
# "address monotonic_time" for each on stdout (CLOCK_MONOTONIC is one clock for every namespace)
_LISTEN = """
import socket, sys, time
record = sys.argv[2:] == ["record"]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(1024)
print("listening", flush=True)
while True:
    c, peer = s.accept()
    t = time.monotonic()
    c.close()
    if record:
        print(peer[0].removeprefix("::ffff:"), repr(t), flush=True)
"""

# A count rule on the `auth` source: `>= THRESHOLD` failed logins from an address in 10m bans it
# (the `ban` action). With invalid_user, "Failed password for invalid user X" lines count too.
_SSH_BAN_RULES = r"""
groups:
  - name: ssh
    interval: 1s
    rules:
      - alert: SSHBruteForce
        logs: {source: auth, match: 'Failed password for USER from (?P<ip>\S+) port \d+'}
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= THRESHOLD"
        actions: [ban]
"""


def ssh_ban_rules(threshold: int, *, invalid_user: bool = False) -> str:
    """A rule file banning an address after `threshold` failed SSH logins in 10m."""
    user = r"(?:invalid user )?\S+" if invalid_user else r"\S+"
    return _SSH_BAN_RULES.replace("THRESHOLD", str(threshold)).replace("USER", user)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


class NetnsPair:
    def __init__(self, prefix: str, clients: Sequence[str]) -> None:
        tag = secrets.token_hex(3)
        self.server = f"{prefix}-srv-{tag}"
        self.client = f"{prefix}-cli-{tag}"
        self._veth = (f"vs{tag}", f"vc{tag}")
        self.clients = list(clients)
        self._procs: list[subprocess.Popen[Any]] = []
        self._made: list[str] = []

    def __enter__(self) -> NetnsPair:
        try:
            self.create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self) -> None:
        for ns in (self.server, self.client):
            _ip("netns", "add", ns)
            self._made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        vs, vc = self._veth
        _ip("link", "add", vs, "netns", self.server, "type", "veth", "peer", "name", vc, "netns",
            self.client)  # fmt: skip
        _ip("-n", self.server, "addr", "add", f"{SERVER_V4}/24", "dev", vs)
        _ip("-n", self.server, "addr", "add", f"{SERVER_V6}/64", "dev", vs, "nodad")
        for a in self.clients:
            if ":" in a:
                _ip("-n", self.client, "addr", "add", f"{a}/64", "dev", vc, "nodad")
            else:
                _ip("-n", self.client, "addr", "add", f"{a}/24", "dev", vc)
        _ip("-n", self.server, "link", "set", vs, "up")
        _ip("-n", self.client, "link", "set", vc, "up")

    def argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def run(self, ns: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        kw.setdefault("capture_output", True)
        kw.setdefault("timeout", 30)
        return subprocess.run(self.argv(ns, argv), text=True, check=False, **kw)

    def popen(self, ns: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        p = subprocess.Popen(self.argv(ns, argv), **kw)
        self._procs.append(p)
        return p

    def popen_server(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        return self.popen(self.server, argv, **kw)

    @staticmethod
    def listener_argv(port: int, *, record: bool = False) -> list[str]:
        """A TCP listener on every server address; `record`: it prints each connection."""
        return [sys.executable, "-c", _LISTEN, str(port), *(["record"] if record else [])]

    def connect(self, src: str, port: int, timeout: float = 0.5) -> bool:
        """Whether a TCP connect from `src` (a client address) to the server succeeds."""
        dst = SERVER_V6 if ":" in src else SERVER_V4
        argv = [sys.executable, "-c", _CONNECT, src, dst, str(port), str(timeout)]
        return self.run(self.client, argv).returncode == 0

    def nft(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.server, ["nft", *args])

    def close(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()
        for p in self._procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for ns in reversed(self._made):
            # anything a test started there and left behind (its own children), by PID
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in out.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self._made.clear()
