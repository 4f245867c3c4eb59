"""The daemon's own endpoints: health, readiness, reload, Prometheus' /api/v1/alerts and
/api/v1/rules (alerter/api/prometheus.py), Alertmanager's /api/v2/status, alerter's status.

They are written against `DaemonControl` (alerter/protocols.py), the port the daemon offers, so
the HTTP layer does not import the daemon that imports it."""

from __future__ import annotations

import platform

from alerter import __version__
from alerter.api import prometheus
from alerter.api.routes import Request, Response, Route
from alerter.notifiers.model import rfc3339
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
            notes = "".join(f"note: {n}\n" for n in d.last_reload_notes)
            return Response.text(f"config reloaded\n{notes}")
        return Response.text(f"reload failed: {d.last_reload_error or 'timed out'}\n", 500)

    def alerts(req: Request) -> Response:
        return Response.json(prometheus.alerts_body(d.alerts()))

    def rules(req: Request) -> Response:
        return Response.json(prometheus.rules_body(d.rule_groups(), d.rule_health(), d.alerts()))

    def am_status(req: Request) -> Response:
        return Response.json(alertmanager_status(d))

    def status(req: Request) -> Response:
        return Response.json({"status": "success", "data": d.status()})

    return [
        Route("GET", "/-/healthy", healthy, public=True),
        Route("GET", "/-/ready", ready, public=True),
        Route("POST", "/-/reload", reload, mutating=True),
        Route("PUT", "/-/reload", reload, mutating=True),
        Route("GET", "/api/v1/alerts", alerts),
        Route("GET", "/api/v1/rules", rules),
        Route("GET", "/api/v1/status", status),
        Route("GET", "/api/v2/status", am_status),
    ]


# The Alertmanager release whose API this subset follows: amtool warns on every call when the
# version differs from its own, and karma picks its API calls by it. alerter's own version is
# the revision.
ALERTMANAGER_API_VERSION = "0.25.0"


def alertmanager_status(d: DaemonControl) -> dict[str, object]:
    """Alertmanager's alertmanagerStatus: no cluster ("disabled", as with gossip off); the config
    is named, not shown (it may hold secrets; `alerter check` reads it)."""
    s = d.status()
    return {
        "cluster": {"status": "disabled", "peers": []},
        "versionInfo": {
            "version": ALERTMANAGER_API_VERSION,
            "revision": f"alerter-{__version__}",
            "branch": "alerter",
            "buildUser": "alerter",
            "buildDate": "",
            "goVersion": f"python{platform.python_version()}",
        },
        "config": {
            "original": f"# alerter {__version__}: config {s.get('config') or '<built in>'}\n"
        },
        "uptime": rfc3339(d.started_at),
    }
