"""The daemon's own endpoints: health, readiness, reload, rules, status.

They are written against `DaemonControl` (alerter/protocols.py), the port the daemon offers, so
the HTTP layer does not import the daemon that imports it."""

from __future__ import annotations

from alerter.api.routes import Request, Response, Route
from alerter.protocols import DaemonControl


def core_routes(d: DaemonControl) -> list[Route]:
    def healthy(req: Request) -> Response:
        return Response.text("alerter is healthy.\n")

    def ready(req: Request) -> Response:
        if d.ready.is_set():
            return Response.text("alerter is ready.\n")
        return Response.text("alerter is not ready.\n", 503)

    def reload(req: Request) -> Response:
        ok = d.reload_and_wait(timeout=60)
        if ok:
            return Response.text("config reloaded\n")
        return Response.text(f"reload failed: {d.last_reload_error or 'timed out'}\n", 500)

    def rules(req: Request) -> Response:
        return Response.json({"status": "success", "data": {"groups": d.rule_health()}})

    def status(req: Request) -> Response:
        return Response.json({"status": "success", "data": d.status()})

    return [
        Route("GET", "/-/healthy", healthy, public=True),
        Route("GET", "/-/ready", ready, public=True),
        Route("POST", "/-/reload", reload, mutating=True),
        Route("PUT", "/-/reload", reload, mutating=True),
        Route("GET", "/api/v1/rules", rules),
        Route("GET", "/api/v1/status", status),
    ]
