"""The HTTP API server: the registered routes on `server.listen`, behind the bearer token.

Who needs the token (`Authorization: Bearer <token>`):
- public routes (`/metrics`, `/-/healthy`, `/-/ready`, which Prometheus and probes use): nobody;
- mutating routes (POST/PUT/DELETE): everyone, when a token is set;
- every other read (alerts, silences, rules, actions, status: labels and log lines): everyone,
  when the socket is reachable beyond loopback.
A socket beyond loopback without a token answers only the public routes.

Connections, limits and timeouts are `alerter/api/conn.py`'s.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qs

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alerter.api.conn import ConnectionTable, Limits, Listener, Prepared
from alerter.api.routes import HTTPError, Request, Response, Route
from alerter.errors import AlerterError

log = structlog.get_logger(__name__)

MAX_BODY = Limits().max_body


class ListenError(AlerterError, OSError):
    """The API cannot listen on the configured address."""


class APIServer:
    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        token: str | None,
        *,
        limits: Limits | None = None,
        exposed: bool | None = None,
    ) -> None:
        """`exposed` overrides what the bound address says (beyond loopback or not); tests use it."""
        self.registry = registry
        self.token = token
        self.limits = limits or Limits()
        self._exposed = exposed
        self._routes: list[Route] = [Route("GET", "/metrics", self._metrics, public=True)]
        self._lock = threading.Lock()
        self._listen_lock = threading.Lock()
        self._table = ConnectionTable(self.limits.max_connections)
        self._listener = self._bind(host, port)
        self._address = (host, port)  # as configured: port 0 stays 0
        self._started = False

    @property
    def port(self) -> int:
        return int(self._listener.server_address[1])

    @property
    def host(self) -> str:
        return str(self._listener.server_address[0])

    @property
    def exposed(self) -> bool:
        """Whether the socket is reachable beyond loopback (reads then need the token)."""
        return self._listener.exposed

    @property
    def connections(self) -> int:
        return len(self._table)

    def add_routes(self, routes: Iterable[Route]) -> None:
        with self._lock:
            self._routes.extend(routes)

    def set_routes(self, routes: Sequence[Route]) -> None:
        """Replace every route except /metrics (after a reload)."""
        with self._lock:
            self._routes = [r for r in self._routes if r.pattern == "/metrics"] + list(routes)

    def set_token(self, token: str | None) -> None:
        self.token = token

    def reconfigure(self, host: str, port: int, token: str | None) -> None:
        """Listen on host:port with this token, as one step (a reload). The new socket is bound
        before the old one closes; if it cannot be, ListenError is raised and the old socket
        and token stay. Connections of the old socket close once idle."""
        with self._listen_lock:
            if (host, port) == self._address:
                self.token = token
                return
            new = self._bind(host, port)
            old, self._listener = self._listener, new
            self.token = token
            self._address = (host, port)
            if self._started:
                new.start()
            old.stop()
        log.info("api_listen_changed", listen=_address(host, new.server_address[1]))

    def start(self) -> None:
        with self._listen_lock:
            self._started = True
            self._listener.start()

    def stop(self) -> None:
        with self._listen_lock:
            self._started = False
            self._listener.stop()
        self._table.close_idle()

    def _bind(self, host: str, port: int) -> Listener:
        try:
            return Listener(host, port, self, self.limits, self._table, self._exposed)
        except OSError as e:
            raise ListenError(
                f"cannot listen on {_address(host, port)}: {e.strerror or e}; "
                "stop what uses it or change server.listen"
            ) from e

    def _metrics(self, req: Request) -> Response:
        return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)

    def prepare(
        self, method: str, path: str, query: str, headers: Mapping[str, str], exposed: bool
    ) -> Prepared:
        """Route and authorize a request from its head, before its body is read. HEAD is
        answered as GET is, without the body (the connection leaves it out)."""
        path = path or "/"
        with self._lock:
            routes = list(self._routes)
        allowed: set[str] = set()  # the methods the path has, for a 405's Allow header
        for route in routes:
            params = route.match("GET" if method == "HEAD" else method, path)
            if params is None:
                if route.regex.match(path) is not None:
                    allowed.update(("GET", "HEAD") if route.method == "GET" else (route.method,))
                continue
            refused = self._refusal(route, headers, exposed)
            if refused is not None:
                return refused

            def call(
                body: bytes, route: Route = route, params: dict[str, str] = params
            ) -> Response:
                req = Request(method, path, parse_qs(query), headers, body, params)
                try:
                    return route.handler(req)
                except HTTPError as e:
                    return _error(e.message, e.status)
                except Exception as e:  # the edge of a request: log, answer 500, keep serving
                    log.exception("http_handler_failed", path=path, method=method)
                    return _error(repr(e), 500)

            return call
        if allowed:
            # RFC 9110 15.5.6: a 405 must say which methods the resource has
            return _error(
                f"method {method} not allowed", 405, {"Allow": ", ".join(sorted(allowed))}
            )
        return _error(f"no such endpoint {path}", 404)

    def _refusal(self, route: Route, headers: Mapping[str, str], exposed: bool) -> Response | None:
        if route.public or not (route.mutating or exposed):
            return None
        token = self.token
        if not token:
            if not exposed:
                return None
            return _error(
                "this API is reachable beyond loopback and has no token; "
                "set server.token_file to use it",
                403,
            )
        got = headers.get("Authorization", "")
        if hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
            return None
        return _error("missing or wrong bearer token", 401, {"WWW-Authenticate": "Bearer"})


def _error(message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    body = Response.json({"status": "error", "error": message}, status)
    return Response(status, body.body, body.content_type, headers or {})


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
