"""A scripted HTTP receiver on 127.0.0.1 written on plain sockets, for answers no well-behaved
server gives: endless chunked bodies, headers or bodies trickled a byte at a time, redirects,
answers held until the test releases them. It counts the body bytes it managed to send and
notices when the client hung up."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import suppress

from alerter.harness.servers import read_request

TRICKLE_GAP = 0.05  # seconds between trickled bytes: well under any per-read timeout used here


class RawServer:
    def __init__(
        self, behave: Callable[[RawServer, socket.socket], None], tls: ssl.SSLContext | None = None
    ) -> None:
        self.behave = behave
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.requests: list[bytes] = []  # request line, headers and body, as received
        self.sent = 0  # body bytes the kernel took from us
        self.hung_up = threading.Event()  # a client went away while we were answering
        self.held = threading.Event()  # a request is being held (behave=hold)
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def url(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def stop(self) -> None:
        self._stopping.set()
        self.release.set()
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        self.listener.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(10)

    def stopping(self) -> bool:
        return self._stopping.is_set()

    def send_body(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)  # until it is wrapped, if ever
                self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with self._lock:
                self._conns.append(conn)
            with conn:
                request = read_request(conn, timeout=None)
                if b"\r\n\r\n" not in request:  # the client went away mid-request
                    return
                with self._lock:
                    self.requests.append(request)
                self.behave(self, conn)
        except OSError:
            if not self._stopping.is_set():
                self.hung_up.set()


# --- behaviours ------------------------------------------------------------------------------


def answer(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> Callable[[RawServer, socket.socket], None]:
    def behave(server: RawServer, conn: socket.socket) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        server.send_body(conn, body)

    return behave


def endless_chunked(status: int) -> Callable[[RawServer, socket.socket], None]:
    """A chunked answer that never ends: 64 KiB chunks until the client hangs up."""
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"

    def behave(server: RawServer, conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        conn.sendall(f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        while not server.stopping():
            server.send_body(conn, framed)

    return behave


def trickle_headers(server: RawServer, conn: socket.socket) -> None:
    """A status line, then one byte of a header line that never ends, every TRICKLE_GAP."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not server.stopping():
        conn.sendall(b"a")
        server.release.wait(TRICKLE_GAP)


def trickle_body(server: RawServer, conn: socket.socket) -> None:
    """Complete headers announcing a large body, then one body byte every TRICKLE_GAP."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    while not server.stopping():
        server.send_body(conn, b"a")
        server.release.wait(TRICKLE_GAP)


def hold(server: RawServer, conn: socket.socket) -> None:
    """Say nothing until the test releases the request, then 200."""
    server.held.set()
    server.release.wait()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
