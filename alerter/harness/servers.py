"""Loopback servers for bench/hostile.py: hostile webhook receivers and scrape targets, and
healthy ones. `RawServer` runs `handler(conn, stats, closing)` on a thread per connection and
records how many connections came, how many bytes it sent and how long each connection lasted
(a connection the daemon cut at its deadline ends early)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ConnStats:
    """What a `RawServer` saw: connections, bytes it sent, how long each connection lasted."""

    calls: int = 0
    sent: int = 0
    durations: list[float] = field(default_factory=list)
    open_since: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_sent(self, n: int) -> None:
        with self.lock:
            self.sent += n

    def longest(self) -> float:
        """The longest connection so far, counting the ones still open."""
        now = time.monotonic()
        with self.lock:
            return max([*self.durations, *(now - t for t in self.open_since.values())], default=0)


Handler = Callable[[socket.socket, ConnStats, threading.Event], None]


class RawServer:
    """A loopback TCP server; each connection runs `handler(conn, stats, closing)` on a thread."""

    def __init__(self, handler: Handler, path: str = "/") -> None:
        self.stats = ConnStats()
        self.closing = threading.Event()
        self._handler = handler
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._conns: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}{path}"
        threading.Thread(target=self._accept, daemon=True, name="raw-server").start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self.stats.lock:
                self.stats.calls += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        started = time.monotonic()
        with self.stats.lock:
            self.stats.open_since[id(conn)] = started
        try:
            self._handler(conn, self.stats, self.closing)
        except OSError:
            pass  # the daemon cut the connection: what a deadline should do
        finally:
            with self.stats.lock:
                self.stats.durations.append(time.monotonic() - started)
                del self.stats.open_since[id(conn)]
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.closing.set()
        self._sock.close()
        with self.stats.lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()


def read_request(conn: socket.socket, timeout: float | None = 10.0) -> bytes:
    """Read one request's head and its Content-Length body (None: no timeout); what came
    before the client hung up when its head is incomplete."""
    conn.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def endless_chunked(conn: socket.socket, stats: ConnStats, closing: threading.Event) -> None:
    """200 with a chunked body that never ends, sent as fast as the reader takes it."""
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    while not closing.is_set():
        conn.sendall(chunk)
        stats.add_sent(len(chunk))


def trickle(conn: socket.socket, stats: ConnStats, closing: threading.Event) -> None:
    """A 200 answer, one byte every 2 s, for as long as the reader stays (its close is seen
    at once, so the connection's duration is when the daemon cut it)."""
    read_request(conn)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"." * 1_000_000
    for i in range(len(answer)):
        conn.sendall(answer[i : i + 1])
        stats.add_sent(1)
        deadline = time.monotonic() + 2.0
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([conn], [], [], min(left, 0.2))
            if closing.is_set() or (readable and not conn.recv(4096)):
                return  # the bench ends, or the daemon closed its end


def too_many(conn: socket.socket, stats: ConnStats, closing: threading.Event) -> None:
    """429 with Retry-After: 999999 (11.5 days)."""
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 999999\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n"
    )


def hung(conn: socket.socket, stats: ConnStats, closing: threading.Event) -> None:
    """Reads the request and never answers (the connection stays open until the bench ends)."""
    read_request(conn)
    closing.wait()


def metrics_target(conn: socket.socket, stats: ConnStats, closing: threading.Event) -> None:
    """A healthy Prometheus target: one counter."""
    read_request(conn)
    body = b"# TYPE hostile_target_requests_total counter\nhostile_target_requests_total 42\n"
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )


def ok(conn: socket.socket, stats: ConnStats, closing: threading.Event) -> None:
    """A webhook receiver that takes every notification (200, empty body)."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
