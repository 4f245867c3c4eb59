"""The connection side of the HTTP API: HTTP/1.1 on a threaded socket server where every read
is bounded in bytes and in time and the number of open connections is capped, so no client
(slow, idle, half-open or lying about its body) can exhaust memory, threads or descriptors.

- A request's line and headers may take `max_header` bytes, its body `max_body` bytes, stated
  by a plain `Content-Length`; anything else (negative, non-numeric, conflicting, chunked) is
  refused before a byte of body is read, and the connection closed.
- Each receive or whole send waits at most `io_timeout`; a request must arrive completely within
  `request_timeout` of its first byte; a kept-alive connection may idle `idle_timeout`.
- At `max_connections`, a new connection takes the place of the oldest one not running a
  handler (idle, still sending its request, or reading its answer): a flood of slow sockets
  cannot keep `/metrics` from answering. When every slot runs a handler it gets 503.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

import structlog

from alerter.api.routes import Response

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

log = structlog.get_logger(__name__)

MAX_REQUEST_LINE = 8 << 10
_LINGER_BYTES = 4 << 20  # read and dropped after refusing a body, so the client sees the answer
_LINGER_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_body: int = 1 << 20
    max_header: int = 64 << 10  # request line and headers together
    io_timeout: float = 10.0  # one receive, or one whole answer sent
    request_timeout: float = 20.0  # a whole request (line, headers, body) from its first byte
    idle_timeout: float = 15.0  # waiting for the next request of a kept-alive connection
    max_connections: int = 64


Prepared = Response | Callable[[bytes], Response]


class App(Protocol):
    def prepare(
        self, method: str, path: str, query: str, headers: Mapping[str, str], exposed: bool
    ) -> Prepared:
        """An answer given before the body is read (404, 405, 401), or what to call with it."""
        ...


def is_exposed(bound_ip: str) -> bool:
    """Whether a socket bound to this address can be reached from beyond this host."""
    try:
        return not ipaddress.ip_address(bound_ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return True


class RequestTooLarge(Exception):
    """The request line and headers went past `Limits.max_header`."""


class _Conn:
    __slots__ = ("busy", "closed", "listener", "since", "sock")

    def __init__(self, sock: socket.socket, listener: Listener) -> None:
        self.sock = sock
        self.listener = listener
        self.busy = False  # running a handler: the one state that is never evicted
        self.closed = False
        self.since = time.monotonic()


class ConnectionTable:
    """The open connections of every listener of one server, at most `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._conns: dict[int, _Conn] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._conns)

    def admit(self, sock: socket.socket, listener: Listener) -> _Conn | None:
        """Register a new connection, evicting the longest-waiting one not running a handler
        when full; None when every slot runs a handler."""
        with self._lock:
            if len(self._conns) >= self.limit:
                idle = [c for c in self._conns.values() if not c.busy]
                if not idle:
                    return None
                self._drop(min(idle, key=lambda c: c.since))
            conn = _Conn(sock, listener)
            self._conns[id(conn)] = conn
            return conn

    def set_busy(self, conn: _Conn, busy: bool) -> bool:
        """Mark a connection as running a handler or not; False if it was evicted meanwhile."""
        with self._lock:
            conn.busy = busy
            conn.since = time.monotonic()
            return id(conn) in self._conns

    def release(self, conn: _Conn) -> None:
        """Called by the connection's own thread before it closes the socket."""
        with self._lock:
            conn.closed = True
            self._conns.pop(id(conn), None)

    def close_idle(self, listener: Listener | None = None) -> None:
        """Close the connections (of one listener, or all) that are not running a handler; the
        others close after their answer (their listener is marked closing)."""
        with self._lock:
            for conn in list(self._conns.values()):
                if not conn.busy and (listener is None or conn.listener is listener):
                    self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        # Under the lock, so the owning thread (which releases under the lock before closing)
        # cannot have closed the socket and had its descriptor reused by a new connection.
        self._conns.pop(id(conn), None)
        if not conn.closed:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it


class _SocketReader(io.RawIOBase):
    """A connection's receiving side under a per-request deadline and byte budget."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self._sock = sock
        self._limits = limits
        self._budget = 0
        self._deadline = 0.0
        self.started = False  # a byte of the current request has arrived

    def readable(self) -> bool:
        return True

    def next_request(self) -> None:
        self._budget = self._limits.max_header
        self.started = False

    def start(self) -> None:
        if not self.started:
            self.started = True
            self._deadline = time.monotonic() + self._limits.request_timeout

    def allow(self, n: int) -> None:
        """The body of `n` bytes may be read now that the headers announced it."""
        self._budget += n

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._budget <= 0:
            raise RequestTooLarge
        if self.started:
            timeout = min(self._limits.io_timeout, self._deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError("request not received in time")
        else:
            timeout = self._limits.idle_timeout
        view = memoryview(buffer).cast("B")
        self._sock.settimeout(timeout)
        n = self._sock.recv_into(view, min(len(view), self._budget))
        if n:
            self.start()
            self._budget -= n
        return n


class _SocketWriter(io.BufferedIOBase):
    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self._sock = sock
        self._limits = limits

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        self._sock.settimeout(self._limits.io_timeout)  # bounds the whole sendall
        self._sock.sendall(data)
        return memoryview(data).nbytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Listener
    rfile: io.BufferedReader

    def __init__(
        self, request: socket.socket, client_address: Any, server: Listener, conn: _Conn
    ) -> None:
        self.conn = conn
        self.expect_continue = False
        self.answering = False
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        self.connection = self.request
        self.reader = _SocketReader(self.request, self.server.limits)
        self.rfile = io.BufferedReader(self.reader)
        self.wfile = _SocketWriter(self.request, self.server.limits)

    def finish(self) -> None:
        pass  # the listener closes the socket

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        self.close_connection = True
        self.expect_continue = False
        self.answering = False
        self.reader.next_request()
        try:
            line = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if not line:
                return
            self.reader.start()
            if len(line) > MAX_REQUEST_LINE:
                self._error(414, "request line too long", unread=True)
                return
            self.raw_requestline = line
            if self.parse_request():  # else answered by send_error
                self._serve()
        except TimeoutError:
            if self.reader.started and not self.answering:  # not when the answer timed out
                self._error(408, "request not received in time", unread=True)
        except RequestTooLarge:
            self._error(431, "request headers too large", unread=True)
        except OSError:
            pass  # the client went away, or the connection was evicted

    def handle_expect_100(self) -> bool:
        self.expect_continue = True  # sent only once the body is known to be accepted
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self._error(code, message or _reason(code), unread=True)

    def _serve(self) -> None:
        limits = self.server.limits
        length = body_length(self.headers, limits.max_body)
        if isinstance(length, Response):
            self._send(length, close=True, unread=True)
            return
        target, _, query = self.path.partition("?")
        path = unquote(target)
        headers = {k.title(): v for k, v in self.headers.items()}
        prepared = self.server.app.prepare(self.command, path, query, headers, self.server.exposed)
        if isinstance(prepared, Response):
            self._send(prepared, close=self.close_connection or length > 0, unread=length > 0)
            return
        body = b""
        if length:
            if self.expect_continue:
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.reader.allow(length)
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                return
        table = self.server.table
        if not table.set_busy(self.conn, True):
            self.close_connection = True
            return
        try:
            resp = prepared(body)
        except Exception as e:  # App.prepare's callables answer their own errors; a last guard
            log.exception("http_handler_failed", path=path, method=self.command)
            resp = Response.json({"status": "error", "error": repr(e)}, 500)
        finally:
            table.set_busy(self.conn, False)
        self._send(resp, close=self.close_connection or self.server.closing)

    def _error(self, status: int, message: str, unread: bool) -> None:
        with contextlib.suppress(OSError):
            self._send(
                Response.json({"status": "error", "error": message}, status),
                close=True,
                unread=unread,
            )

    def _send(self, resp: Response, close: bool, unread: bool = False) -> None:
        self.answering = True
        extra = [f"Date: {self.date_time_string()}"]
        if close:
            extra.append("Connection: close")
            self.close_connection = True
        head = getattr(self, "command", None) == "HEAD"  # unset before the request line parsed
        self.wfile.write(_encode(resp, extra, head=head))
        if close and unread:
            self._linger()

    def _linger(self) -> None:
        """Drop what the client still sends, for a moment, before closing: closing with unread
        bytes resets the connection and the client may lose the answer it was sent."""
        sock = self.request
        try:
            sock.shutdown(socket.SHUT_WR)
            buf = bytearray(64 << 10)
            left, end = _LINGER_BYTES, time.monotonic() + _LINGER_SECONDS
            while left > 0:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                n = sock.recv_into(buf)
                if not n:
                    break
                left -= n
        except OSError:
            pass


def body_length(headers: Message, max_body: int) -> int | Response:
    """The body's length from the headers, or the answer refusing it."""

    def refuse(status: int, message: str) -> Response:
        return Response.json({"status": "error", "error": message}, status)

    if headers.get("Transfer-Encoding") is not None:
        return refuse(411, "Transfer-Encoding is not accepted; send the body with Content-Length")
    values = {v.strip() for v in headers.get_all("Content-Length") or []}
    if not values:
        return 0
    if len(values) > 1:
        return refuse(400, "conflicting Content-Length headers")
    (raw,) = values
    if not (raw.isascii() and raw.isdigit()):
        return refuse(400, f"Content-Length must be a non-negative integer, got {raw[:40]!r}")
    if len(raw) > 18 or int(raw) > max_body:
        return refuse(413, f"request body larger than {max_body} bytes")
    return int(raw)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def _encode(resp: Response, extra: list[str], head: bool = False) -> bytes:
    """The answer on the wire; to HEAD, the head alone (Content-Length as GET's body's)."""
    lines = [
        f"HTTP/1.1 {resp.status} {_reason(resp.status)}",
        f"Content-Type: {resp.content_type}",
        f"Content-Length: {len(resp.body)}",
        *(f"{k}: {v}" for k, v in resp.headers.items()),
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else resp.body)


_BUSY = _encode(
    Response.json({"status": "error", "error": "too many open connections"}, 503),
    ["Retry-After: 1", "Connection: close"],
)


class Listener(socketserver.TCPServer):
    """One listening socket; each connection runs in its own thread, admitted by the table."""

    allow_reuse_address = True
    request_queue_size = 128  # a burst of connects waits to be admitted (or evicts) in order

    def __init__(
        self,
        host: str,
        port: int,
        app: App,
        limits: Limits,
        table: ConnectionTable,
        exposed: bool | None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.limits = limits
        self.table = table
        self.closing = False
        self._thread: threading.Thread | None = None
        # binds, or raises OSError; connections are served by _serve_connection, not the base class
        super().__init__((host, port), socketserver.BaseRequestHandler)
        self.exposed = is_exposed(str(self.server_address[0])) if exposed is None else exposed

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the socket and the idle connections; busy ones close after
        their answer."""
        self.closing = True
        if self._thread is not None:  # shutdown() waits for serve_forever, so only if it runs
            self.shutdown()
            self._thread = None
        self.server_close()
        self.table.close_idle(self)

    def process_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        conn = self.table.admit(sock, self)
        if conn is None:
            _refuse(sock)
            return
        try:
            threading.Thread(
                target=self._serve_connection,
                args=(sock, client_address, conn),
                name="http-conn",
                daemon=True,
            ).start()
        except RuntimeError:  # no thread to be had
            self.table.release(conn)
            _refuse(sock)

    def _serve_connection(self, sock: socket.socket, client_address: Any, conn: _Conn) -> None:
        try:
            _Handler(sock, client_address, self, conn)
        except Exception:  # the edge of a connection: log it, keep serving the others
            log.exception("http_connection_failed")
        finally:
            self.table.release(conn)
            self.shutdown_request(sock)


def _refuse(sock: socket.socket) -> None:
    """Answer 503 without waiting for anything, and close."""
    try:
        sock.setblocking(False)
        sock.send(_BUSY)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()
