"""HTTP calls (with `requests`) whose whole exchange ends by a deadline.

`requests` timeouts bound each socket operation, not the call: a server that sends its headers
or body a byte at a time, each within the read timeout, holds the caller forever. A session with
`DeadlineAdapter` mounted (`install`, or `session()`) registers every socket its calls use with
the deadline running on the calling thread (`within`); when the time is up a timer shuts those
sockets down, and whatever the call is blocked in (a proxy tunnel, the TLS handshake, sending,
waiting for headers, reading the body) fails at once. One thread keeps every deadline (a timer
thread started for each call cost a fifth of a notification sender's time). `Deadline.expired`
tells that apart from a
server that hung up; check it after reading too, since a body without a length ends at the
shutdown as if complete. Not covered: name resolution (bounded by the resolver's own timeouts)
and SOCKS proxies. Its https connections also keep the certificate their handshake verified,
for `peer_certificate(response)`: a probe reads it from its own connection.

It lives in `collectors` so collectors (which import nothing from `alerter/` but `core/`) and the notifiers
share it: scrapes, and notifications.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

_local = threading.local()  # .deadline: the Deadline of the calls running on this thread


class DeadlineExceeded(Exception):
    pass


class BodyTooLarge(Exception):
    pass


class Deadline:
    """The time left for the calls in one `within` block, and the sockets to cut when it ends.

    Sockets are held through a duplicate of their descriptor until the block ends: a shutdown
    acts on the connection under every layer (TLS included), and the descriptor cannot be
    reused for another file while the timer may still fire."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._ended = False
        self._held: list[socket.socket] = []

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

    def check(self) -> None:
        """Raise DeadlineExceeded once the deadline has passed."""
        if self.passed():
            self.expired = True
            raise DeadlineExceeded(f"no complete answer within {self.seconds:g}s")

    def watch(self, sock: socket.socket) -> None:
        """Cut `sock`'s connection when the deadline passes (at once if it has)."""
        try:
            held = socket.socket(fileno=os.dup(sock.fileno()))
        except (OSError, ValueError):
            return  # already closed: nothing left to cut
        with self._lock:
            if self._ended:
                held.close()
                return
            self._held.append(held)
            if self.expired:
                _cut(held)

    def abort(self) -> None:
        """End now: cut every connection the calls use (the timer's job, or a stop)."""
        with self._lock:
            if self._ended:
                return
            self.expired = True
            for s in self._held:
                _cut(s)

    def ended(self) -> bool:
        return self._ended

    def _end(self) -> None:
        with self._lock:
            self._ended = True
            held, self._held = self._held, []
        for s in held:
            s.close()


def _cut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)


class _Timer:
    """One thread for every running deadline: it sleeps until the earliest and aborts each that
    passes before its block ends (a deadline that ended is let go when it comes up)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, d: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (d.at, next(self._seq), d))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is d:
                self._cond.notify()  # earlier than the one it sleeps for

    def _run(self) -> None:
        while True:
            due: list[Deadline] = []
            with self._cond:
                while not due:
                    now = time.monotonic()
                    while self._heap and (self._heap[0][0] <= now or self._heap[0][2].ended()):
                        d = heapq.heappop(self._heap)[2]
                        if not d.ended():
                            due.append(d)
                    if not due:
                        self._cond.wait(self._heap[0][0] - now if self._heap else None)
            for d in due:
                d.abort()


_timer = _Timer()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[Deadline]:
    """Run the calls in the block (on this thread, with an `install`ed session) under one
    deadline of `seconds`."""
    d = Deadline(seconds)
    previous = getattr(_local, "deadline", None)
    _local.deadline = d
    _timer.add(d)
    try:
        yield d
    finally:
        _local.deadline = previous
        d._end()


def _watch(conn: Any, sock: socket.socket | None) -> None:
    d: Deadline | None = getattr(_local, "deadline", None)
    if d is None or sock is None or getattr(conn, "_httpdeadline", None) is d:
        return
    conn._httpdeadline = d
    d.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(self, sock)  # before any tunnel or TLS handshake on it
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self, self.sock)  # a kept-alive connection, opened by an earlier call
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    peer_cert: dict[str, Any] | None = None  # (`peer_certificate`)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(self, sock)
        return sock

    def connect(self) -> None:
        self.peer_cert = None
        super().connect()
        getpeercert = getattr(self.sock, "getpeercert", None)  # an SSLSocket, or SSLTransport
        if getpeercert is not None:
            self.peer_cert = getpeercert() or None

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self, self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: Mapping[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through an HTTP proxy) obey `within`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


@contextlib.contextmanager
def cut_by(deadline: Deadline) -> Iterator[None]:
    """Inside `within`: a call that failed because the deadline shut its socket raises
    DeadlineExceeded, not the connection error it looks like."""
    try:
        yield
    except (requests.RequestException, OSError):
        if deadline.expired:
            raise DeadlineExceeded(f"no complete answer within {deadline.seconds:g}s") from None
        raise


def install(session: requests.Session) -> None:
    """Mount DeadlineAdapter on `session` for http and https (once)."""
    for prefix in ("https://", "http://"):
        if not isinstance(session.adapters.get(prefix), DeadlineAdapter):
            session.mount(prefix, DeadlineAdapter())


def session() -> requests.Session:
    """A new Session whose calls made inside `within` end by its deadline."""
    s = requests.Session()
    install(s)
    return s


def peer_certificate(resp: requests.Response) -> dict[str, Any] | None:
    """The certificate the server presented on the connection `resp` came on (a call of a
    session of this module), as its handshake decoded it (`getpeercert()`: verified, with its
    chain, host name and dates, when the call verifies), or None. Read it before the body: the
    connection of a streamed response is given back to the pool once its body is read."""
    conn = getattr(resp.raw, "connection", None)
    cert: dict[str, Any] | None = getattr(conn, "peer_cert", None)
    return cert


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
