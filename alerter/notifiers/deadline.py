"""A deadline for a whole HTTP call made with requests: connect, send, headers and body together.

requests' `timeout` bounds each socket operation, so a server that trickles one byte a second
keeps a call alive for ever. A session with `DeadlineAdapter` mounted (`install`) registers
every socket its calls use with the deadline running on the calling thread (`within`); when
the time is up a timer shuts those sockets down, and whatever the call is blocked in (a proxy
tunnel, the TLS handshake, sending, waiting for headers, reading the body) fails at once with a
connection error, which `Deadline.expired` tells apart from a server that hung up.

Sockets are registered through a duplicate of their descriptor, held until the call ends: a
shutdown acts on the connection under every layer (TLS included), and the duplicate cannot be
reused for another file while the timer may still fire. Not covered: name resolution (bounded
by the resolver's own timeouts) and SOCKS proxies (their connections are urllib3's own).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

_local = threading.local()


class Deadline:
    """The time left for one call, and the sockets to cut when it runs out."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._ended = False
        self._held: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

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

    def _start(self) -> None:
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._ended:
                return
            self.expired = True
            for s in self._held:
                _cut(s)

    def _end(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._ended = True
            held, self._held = self._held, []
        for s in held:
            s.close()


def _cut(s: socket.socket) -> None:
    with suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)


@contextmanager
def within(seconds: float) -> Iterator[Deadline]:
    """Run the calls in the block under one deadline of `seconds` (on this thread)."""
    d = Deadline(seconds)
    previous = getattr(_local, "deadline", None)
    _local.deadline = d
    d._start()
    try:
        yield d
    finally:
        _local.deadline = previous
        d._end()


def _watch(conn: Any, sock: socket.socket | None) -> None:
    d: Deadline | None = getattr(_local, "deadline", None)
    if d is None or sock is None or getattr(conn, "_alerter_deadline", None) is d:
        return
    conn._alerter_deadline = d
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
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(self, sock)
        return sock

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


def install(session: requests.Session) -> None:
    """Mount DeadlineAdapter on `session` for http and https (once)."""
    if not isinstance(session.adapters.get("https://"), DeadlineAdapter):
        session.mount("https://", DeadlineAdapter())
    if not isinstance(session.adapters.get("http://"), DeadlineAdapter):
        session.mount("http://", DeadlineAdapter())
