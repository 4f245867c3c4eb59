"""HEAD is answered as GET, without the body (probes and `curl -I` on /metrics); a method a
path does not have gets 405 with the methods it has."""

from __future__ import annotations

import socket

import requests
from prometheus_client import CollectorRegistry, Counter

from alerter.api.routes import Response, Route
from alerter.api.server import APIServer


def test_head_answers_as_get_without_the_body_and_the_connection_stays_usable() -> None:
    registry = CollectorRegistry()
    Counter("probe_total", "a counter", registry=registry).inc()
    server = APIServer("127.0.0.1", 0, registry, None)
    server.add_routes([Route("POST", "/-/reload", lambda r: Response.text("ok"), mutating=True)])
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            f = s.makefile("rb")

            def ask(method: str, path: str) -> tuple[str, dict[str, str], bytes]:
                s.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                status = f.readline().decode().strip()
                headers = {}
                while (line := f.readline().decode().strip()) != "":
                    k, _, v = line.partition(":")
                    headers[k.lower()] = v.strip()
                body = b"" if method == "HEAD" else f.read(int(headers["content-length"]))
                return status, headers, body

            status, head, _ = ask("HEAD", "/metrics")
            assert status == "HTTP/1.1 200 OK"
            # the next answer on the same connection starts right after HEAD's head: no body sent
            gstatus, got, body = ask("GET", "/metrics")
            assert gstatus == "HTTP/1.1 200 OK" and b"probe_total 1.0" in body
            assert int(head["content-length"]) == len(body) > 0
            assert head["content-type"] == got["content-type"]
            assert ask("HEAD", "/nowhere")[0].startswith("HTTP/1.1 404")
            assert ask("HEAD", "/-/reload")[0].startswith("HTTP/1.1 405")
    finally:
        server.stop()


def test_a_wrong_method_gets_405_naming_the_methods_the_path_has() -> None:
    """RFC 9110 15.5.6: a 405 answer must carry Allow (curl and clients show it)."""
    server = APIServer("127.0.0.1", 0, CollectorRegistry(), None)
    ok = lambda r: Response.text("ok")  # noqa: E731
    server.add_routes(
        [
            Route("GET", "/api/v1/bans", ok),
            Route("POST", "/api/v1/bans", ok, mutating=True),
            Route("DELETE", "/api/v1/bans/{address}", ok, mutating=True),
        ]
    )
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        r = requests.put(f"{url}/api/v1/bans", timeout=5)
        assert (r.status_code, r.headers.get("Allow")) == (405, "GET, HEAD, POST")
        assert r.json()["error"] == "method PUT not allowed"
        r = requests.get(f"{url}/api/v1/bans/192.0.2.1", timeout=5)
        assert (r.status_code, r.headers.get("Allow")) == (405, "DELETE")
        assert "Allow" not in requests.get(f"{url}/nowhere", timeout=5).headers
    finally:
        server.stop()
