"""The API server against hostile clients, over real sockets on 127.0.0.1 (raw `socket` clients):
lying or missing body lengths, chunked bodies, slow and idle connections, connection floods,
re-binding on reload, and who needs the token."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry

from alerter.api.conn import Limits, is_exposed
from alerter.api.routes import Request, Response, Route
from alerter.api.server import APIServer, ListenError
from alerter.testing import free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

TOKEN = "s3cret"
AUTH = f"Authorization: Bearer {TOKEN}\r\n"
DEFAULT = Limits()
LONG = Limits(io_timeout=30, request_timeout=60, idle_timeout=60)  # only the cap frees slots


class Blocker:
    """A route that holds its handler until released."""

    def __init__(self) -> None:
        self.entered = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Response:
        with self._lock:
            self.entered += 1
        self.release.wait(10)
        return Response.text("released\n")


def routes(blocker: Blocker) -> list[Route]:
    return [
        Route("GET", "/-/healthy", lambda r: Response.text("ok\n"), public=True),
        Route("GET", "/api/v1/alerts", lambda r: Response.json([{"labels": {"a": "b"}}])),
        Route("POST", "/echo", lambda r: Response.json({"len": len(r.body)}), mutating=True),
        Route("GET", "/block", blocker),
        Route("POST", "/json", lambda r: Response.json({"got": type(r.json()).__name__})),
    ]


@contextmanager
def serving(
    limits: Limits = DEFAULT, token: str | None = TOKEN, exposed: bool | None = None
) -> Iterator[tuple[APIServer, Blocker]]:
    server = APIServer("127.0.0.1", 0, CollectorRegistry(), token, limits=limits, exposed=exposed)
    blocker = Blocker()
    server.add_routes(routes(blocker))
    server.start()
    try:
        yield server, blocker
    finally:
        blocker.release.set()
        server.stop()


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-case names), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        body += chunk
    return int(status_line.split()[1]), headers, body[:n]


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server has closed (EOF or reset) rather than leaving the socket open."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def ask(port: int, raw: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    with connect(port, timeout) as s:
        s.sendall(raw.encode())
        return read_response(s)


def get(port: int, path: str, extra: str = "") -> int:
    return ask(port, f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")[0]


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    assert m is not None
    return int(m.group(1)) * 1024


def socket_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return n


class PeakRSS:
    """Samples this process's RSS while a hostile client runs: the server lives in it."""

    def __init__(self) -> None:
        self.base = rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def growth(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.base


# --- bodies ----------------------------------------------------------------------------


def test_negative_content_length_with_a_50mb_stream_is_refused_unread() -> None:
    total = 50 << 20
    with serving() as (server, _):
        sock = connect(server.port)
        sock.sendall(f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Length: -1\r\n\r\n".encode())
        sent = [0]
        failed: list[BaseException] = []

        def stream() -> None:
            chunk = b"x" * (64 << 10)
            try:
                while sent[0] < total:
                    sent[0] += sock.send(chunk)
            except OSError as e:
                failed.append(e)

        rss = PeakRSS()
        sender = threading.Thread(target=stream)
        sender.start()
        status, headers, body = read_response(sock)
        sender.join(30)
        growth = rss.growth()
        sock.close()
        assert (status, headers["connection"]) == (400, "close"), body
        assert b"Content-Length must be a non-negative integer" in body
        assert failed and sent[0] < total, f"the server read all {sent[0]} bytes"
        assert growth < 20 << 20, f"RSS grew {growth >> 20} MiB"
        assert get(server.port, "/-/healthy") == 200


@pytest.mark.parametrize(
    ("length_headers", "status"),
    [
        ("Content-Length: -1\r\n", 400),
        ("Content-Length: abc\r\n", 400),
        ("Content-Length: 0x10\r\n", 400),
        ("Content-Length: \u00b2\r\n", 400),  # a Unicode digit
        ("Content-Length: 5\r\nContent-Length: 6\r\n", 400),
        ("Content-Length: 99999999999999999999999999999\r\n", 413),
        (f"Content-Length: {(1 << 20) + 1}\r\n", 413),
        ("Transfer-Encoding: chunked\r\n", 411),
        ("Transfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n", 411),
    ],
)
def test_a_body_length_that_is_not_a_plain_bounded_number_is_refused_and_the_connection_closed(
    length_headers: str, status: int
) -> None:
    with serving() as (server, _), connect(server.port) as s:
        s.sendall(f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}{length_headers}\r\n".encode())
        got, headers, _ = read_response(s)
        assert (got, headers["connection"]) == (status, "close")
        assert closed_by_server(s)


def test_a_chunked_body_is_refused_before_any_chunk_is_read() -> None:
    with serving() as (server, _), connect(server.port) as s:
        s.sendall(
            f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n".encode()
            + b"100000\r\n"
            + b"y" * 200_000
        )
        status, _, body = read_response(s)
        assert status == 411 and b"Content-Length" in body
        assert closed_by_server(s)


def test_a_body_up_to_the_limit_is_read_and_the_connection_kept() -> None:
    limit = 1 << 20
    with serving() as (server, _), connect(server.port) as s:
        head = f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Length: {limit}\r\n\r\n"
        s.sendall(head.encode() + b"z" * limit)
        status, headers, body = read_response(s)
        assert (status, body) == (200, b'{"len": 1048576}')
        assert "connection" not in headers
        s.sendall(f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}\r\n".encode())  # no length: empty
        assert read_response(s)[2] == b'{"len": 0}'


def test_expect_continue_gets_100_only_for_an_acceptable_body() -> None:
    with serving() as (server, _), connect(server.port) as s:
        head = f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Expect: 100-continue\r\n"
        s.sendall(f"{head}Content-Length: {2 << 20}\r\n\r\n".encode())
        assert read_response(s)[0] == 413
    with serving() as (server, _), connect(server.port) as s:
        s.sendall(f"{head}Content-Length: 3\r\n\r\n".encode())
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"abc")
        assert read_response(s)[2] == b'{"len": 3}'


def test_a_request_line_past_its_limit_gets_414_and_a_close() -> None:
    with serving() as (server, _), connect(server.port) as s:
        s.sendall(f"GET /{'a' * 100_000} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        assert read_response(s)[0] == 414
        assert closed_by_server(s)


def test_a_json_body_nested_past_the_parser_gets_400() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with serving() as (server, _), connect(server.port) as s:
        head = f"POST /json HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Length: {len(body)}\r\n\r\n"
        s.sendall(head.encode() + body)
        status, _, text = read_response(s)
        assert (status, json.loads(text)["error"]) == (
            400,
            "request body is JSON nested too deeply",
        )


def test_headers_past_their_limit_get_431_and_a_close() -> None:
    with serving() as (server, _), connect(server.port) as s:
        filler = "".join(f"X-Pad-{i}: {'p' * 1000}\r\n" for i in range(90))
        s.sendall(f"GET /-/healthy HTTP/1.1\r\nHost: t\r\n{filler}\r\n".encode())
        assert read_response(s)[0] == 431
        assert closed_by_server(s)


def test_a_body_sent_to_an_unauthorized_request_is_not_read() -> None:
    with serving() as (server, _), connect(server.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 500000\r\n\r\n")
        status, headers, _ = read_response(s)
        assert (status, headers["connection"], headers["www-authenticate"]) == (
            401,
            "close",
            "Bearer",
        )
        assert closed_by_server(s)


# --- slow, idle and many connections -----------------------------------------------------


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() -> None:
    with serving(Limits(idle_timeout=1.0)) as (server, _), connect(server.port) as s:
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(s)[0] == 200
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")  # kept alive
        status, headers, _ = read_response(s)
        assert status == 200 and "connection" not in headers  # kept alive again: not closed now
        assert closed_by_server(s)


def test_a_connection_that_never_sends_is_closed_after_the_idle_timeout() -> None:
    with serving(Limits(idle_timeout=0.3)) as (server, _), connect(server.port) as s:
        assert closed_by_server(s)
        wait_for(lambda: server.connections == 0, timeout=5)


def test_a_request_trickled_byte_by_byte_is_cut_off_at_the_request_deadline() -> None:
    limits = Limits(io_timeout=0.5, request_timeout=1.0, idle_timeout=5)
    with serving(limits) as (server, _), connect(server.port) as s:
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n")
        answered = False
        # a slowloris: a byte every 0.1 s, well inside each read timeout, until answered
        # (or 20 s of it: then the request deadline did not cut it off)
        for _ in range(200):
            if answered := bool(select.select([s], [], [], 0.1)[0]):
                break
            try:
                s.sendall(b"X")
            except OSError:  # answered and closed between the look and the byte
                answered = True
                break
        assert answered  # while the bytes still came: the request deadline, not a read timeout
        assert read_response(s)[0] == 408
        assert closed_by_server(s)


def test_metrics_and_health_answer_while_200_slowloris_sockets_are_open() -> None:
    with serving(LONG) as (server, _):
        before = socket_fds()
        loris = []
        try:
            for _ in range(200):
                s = connect(server.port)
                s.sendall(b"GET /api/v1/alerts HTTP/1.1\r\nHost: t\r\nX-a: ")  # never finished
                loris.append(s)
            wait_for(lambda: server.connections == 64, timeout=10)
            assert ask(server.port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 5)[0] == 200
            assert get(server.port, "/-/healthy") == 200
            assert server.connections <= 64
            # the server's side holds at most 64 (+ the listener); the test's own 200 remain
            wait_for(lambda: socket_fds() - before <= 200 + 64 + 2, timeout=10)
            wait_for(lambda: evicted(loris) >= 200 - 64, timeout=10)
        finally:
            for s in loris:
                s.close()


def evicted(socks: list[socket.socket]) -> int:
    """How many of these sockets the server has closed (read without waiting)."""
    poller = select.poll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    return sum(1 for fd, _ in poller.poll(0) if _eof(by_fd[fd]))


def _eof(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def test_past_the_cap_a_new_connection_gets_503_when_every_slot_runs_a_handler() -> None:
    with serving(Limits(max_connections=2)) as (server, blocker):
        held = [connect(server.port) for _ in range(2)]
        for s in held:
            s.sendall(b"GET /block HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_for(lambda: blocker.entered == 2, timeout=10)
        with connect(server.port) as s:
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
            try:
                status: int | None = read_response(s)[0]
            except ConnectionError:
                status = None  # closed at once: also refused
            assert status in (503, None)
            assert closed_by_server(s)
        blocker.release.set()
        for s in held:
            assert read_response(s)[0] == 200
            s.close()
        wait_for(lambda: server.connections == 0, timeout=10)
        assert get(server.port, "/-/healthy") == 200


# --- re-binding on reload ----------------------------------------------------------------


def post_echo(port: int, token: str | None) -> int:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return ask(port, f"POST /echo HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 0\r\n\r\n")[0]


def test_reconfigure_binds_the_new_address_closes_the_old_and_swaps_the_token() -> None:
    with serving(LONG) as (server, _):
        old_port, new_port = server.port, free_port()
        kept = connect(old_port)
        kept.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(kept)[0] == 200
        server.reconfigure("127.0.0.1", new_port, "n3w")
        assert server.port == new_port
        with pytest.raises(ConnectionRefusedError):
            connect(old_port).close()
        assert closed_by_server(kept)  # a kept-alive connection of the old socket is closed
        kept.close()
        assert post_echo(new_port, TOKEN) == 401
        assert post_echo(new_port, "n3w") == 200


def test_reconfigure_to_the_same_address_only_swaps_the_token() -> None:
    with serving() as (server, _):
        port = server.port
        server.reconfigure("127.0.0.1", 0, "n3w")  # as configured: port 0 is not re-bound
        assert server.port == port
        assert post_echo(port, "n3w") == 200


def test_a_failed_rebind_names_the_address_and_keeps_the_old_socket_and_token() -> None:
    with serving() as (server, _), socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        with pytest.raises(ListenError, match=rf"127\.0\.0\.1:{busy_port}.*in use"):
            server.reconfigure("127.0.0.1", busy_port, None)
        assert post_echo(server.port, None) == 401
        assert post_echo(server.port, TOKEN) == 200


def test_address_in_use_at_start_names_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            ListenError, match=rf"cannot listen on 127\.0\.0\.1:{port}: .*in use"
        ) as e:
            APIServer("127.0.0.1", port, CollectorRegistry(), None)
        assert isinstance(e.value, OSError)  # `alerter run` reports it as "cannot start"


# --- who needs the token -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("::", True),
        ("10.1.2.3", True),
        ("fe80::1%eth0", True),
    ],
)
def test_reads_need_the_token_when_the_bound_address_is_beyond_loopback(
    ip: str, exposed: bool
) -> None:
    assert is_exposed(ip) is exposed


def test_beyond_loopback_reads_need_the_token_but_metrics_and_health_do_not() -> None:
    with serving(exposed=True) as (server, _):
        assert server.exposed
        assert get(server.port, "/api/v1/alerts") == 401
        assert get(server.port, "/api/v1/alerts", "Authorization: Bearer wrong\r\n") == 401
        assert get(server.port, "/api/v1/alerts", AUTH) == 200
        assert get(server.port, "/metrics") == 200
        assert get(server.port, "/-/healthy") == 200
        assert post_echo(server.port, None) == 401


def test_on_loopback_reads_stay_open_and_changes_need_the_token() -> None:
    with serving() as (server, _):
        assert not server.exposed
        assert get(server.port, "/api/v1/alerts") == 200
        assert post_echo(server.port, None) == 401


def test_beyond_loopback_without_a_token_only_metrics_and_health_answer() -> None:
    with serving(token=None, exposed=True) as (server, _):
        assert get(server.port, "/api/v1/alerts") == 403
        assert post_echo(server.port, None) == 403
        assert get(server.port, "/metrics") == 200
        assert get(server.port, "/-/healthy") == 200
