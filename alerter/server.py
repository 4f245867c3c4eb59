"""The HTTP API server: a threaded WSGI server on `server.listen` serving registered routes.

Mutating routes (POST/DELETE) require `Authorization: Bearer <token>` when a token is set.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alerter.httpapi import HTTPError, Request, Response, Route

log = structlog.get_logger(__name__)

MAX_BODY = 1 << 20


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class APIServer:
    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, token: str | None
    ) -> None:
        self.registry = registry
        self.token = token
        self._routes: list[Route] = []
        self._lock = threading.Lock()
        self._httpd = make_server(
            host, port, self._app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread: threading.Thread | None = None
        self.add_routes([Route("GET", "/metrics", self._metrics)])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def add_routes(self, routes: Iterable[Route]) -> None:
        with self._lock:
            self._routes.extend(routes)

    def set_routes(self, routes: Sequence[Route]) -> None:
        """Replace every route except /metrics (after a reload)."""
        with self._lock:
            self._routes = [r for r in self._routes if r.pattern == "/metrics"] + list(routes)

    def set_token(self, token: str | None) -> None:
        self.token = token

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, so only if it runs
            self._httpd.shutdown()
            self._thread = None
        self._httpd.server_close()

    def _metrics(self, req: Request) -> Response:
        return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        resp = self.dispatch(environ)
        headers = [("Content-Type", resp.content_type), ("Content-Length", str(len(resp.body)))]
        headers += list(resp.headers.items())
        start_response(f"{resp.status} {_REASONS.get(resp.status, 'Status')}", headers)
        return [resp.body]

    def dispatch(self, environ: dict[str, Any]) -> Response:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "/") or "/"
        with self._lock:
            routes = list(self._routes)
        allowed = False
        for route in routes:
            params = route.match(method, path)
            if params is None:
                allowed = allowed or route.regex.match(path) is not None
                continue
            if route.mutating and not self._authorized(environ):
                return Response.json(
                    {"status": "error", "error": "missing or wrong bearer token"}, 401
                )
            try:
                n = int(environ.get("CONTENT_LENGTH") or 0)
                if n > MAX_BODY:
                    return Response.json({"status": "error", "error": "body too large"}, 413)
                body = environ["wsgi.input"].read(n) if n else b""
                req = Request(
                    method=method,
                    path=path,
                    query=parse_qs(environ.get("QUERY_STRING", "")),
                    headers={
                        k[5:].replace("_", "-").title(): v
                        for k, v in environ.items()
                        if k.startswith("HTTP_")
                    },
                    body=body,
                    params=params,
                )
                return route.handler(req)
            except HTTPError as e:
                return Response.json({"status": "error", "error": e.message}, e.status)
            except Exception as e:  # the edge of a request: log, answer 500, keep serving
                log.exception("http_handler_failed", path=path, method=method)
                return Response.json({"status": "error", "error": repr(e)}, 500)
        if allowed:
            return Response.json({"status": "error", "error": f"method {method} not allowed"}, 405)
        return Response.json({"status": "error", "error": f"no such endpoint {path}"}, 404)

    def _authorized(self, environ: dict[str, Any]) -> bool:
        if not self.token:
            return True
        got = environ.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(got.encode(), f"Bearer {self.token}".encode())


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
