"""HTTP requests (with `requests`) whose whole exchange ends by a deadline.

`requests` timeouts bound each socket operation, not the exchange: a server that sends its
headers or body a byte at a time, each within the read timeout, holds the caller forever.
Here a session's connections report their socket to the `Deadline` running on the calling
thread (`within`); when the deadline passes, a timer shuts that socket down, so whatever read is
waiting returns at once and the request fails. The caller checks `Deadline.expired` too, since a
body without a length ends at the shutdown as if complete.

Covered: the wait for the response headers and the body. The TCP connect and the TLS handshake
are bounded by the connect timeout the caller passes; a DNS lookup is not bounded here.
Connections through a proxy (from the environment) are not watched: their reads keep the
per-operation timeout only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()  # .deadline: the Deadline of the request running on this thread


class DeadlineExceeded(Exception):
    pass


class BodyTooLarge(Exception):
    pass


class Deadline:
    """The end of one exchange; `abort()` (the timer's) shuts the current socket down."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.expired or self.left() <= 0:
            self.expired = True
            raise DeadlineExceeded("deadline exceeded")

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def abort(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)

    def release(self) -> None:
        with self._lock:
            self._sock = None


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.attach(sock)


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection: connect() is not called again
        super().request(*args, **kwargs)


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def session() -> requests.Session:
    """A Session whose requests made inside `within` end by its deadline."""
    s = requests.Session()
    adapter = _Adapter()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


@contextlib.contextmanager
def within(seconds: float) -> Iterator[Deadline]:
    """Run a request of a `session()` on this thread; its socket is shut down after `seconds`."""
    deadline = Deadline(seconds)
    timer = threading.Timer(max(0.0, seconds), deadline.abort)
    timer.daemon = True
    _current.deadline = deadline
    timer.start()
    try:
        yield deadline
    finally:
        timer.cancel()
        _current.deadline = None
        deadline.release()


def read_capped(resp: requests.Response, max_bytes: int, deadline: Deadline | None = None) -> bytes:
    """The body, or BodyTooLarge once it passes `max_bytes` (read no further); with a deadline,
    DeadlineExceeded once it has passed (a body cut short by the shutdown included)."""
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise BodyTooLarge(f"Content-Length {length} > max_bytes {max_bytes}")
    chunks, size = [], 0
    for chunk in resp.iter_content(65536):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"body larger than max_bytes {max_bytes}")
        chunks.append(chunk)
        if deadline is not None:
            deadline.check()
    if deadline is not None:
        deadline.check()
    return b"".join(chunks)
