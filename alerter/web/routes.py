"""The web page's routes: `GET /` (the whole page, server-rendered, readable without
JavaScript), `GET /static/{name}` (its stylesheet and script) and `GET /api/v1/page` (the
page's sections, rendered the same way, for the script to swap in: it polls twice a second).

`/api/v1/page?have=alerts:DIGEST,rules:DIGEST` leaves out the HTML of the sections the page
already holds, so an unchanged page costs a few hundred bytes a poll.

Every answer of the page carries a Content-Security-Policy allowing scripts, styles and
requests from the daemon itself only (no inline script or style): with the templates'
autoescaping, a log line holding markup is shown as text and can run nothing.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from alerter.api.routes import HTTPError, Request, Response, Route
from alerter.notifiers.console import printable_html
from alerter.web import view

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
SECTIONS = ("head", "alerts", "silences", "rules", "collectors", "actions")

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("alerter.web", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    finalize=printable_html,
)
# Text between tags needs only &, < and > escaped: the alerts' labels, lines and summaries
# take fewer bytes than with autoescape's quotes as &#34; (never used inside an attribute).
_env.filters["text"] = lambda s: Markup(
    s if hasattr(s, "__html__") else htmllib.escape(printable_html(str(s)), False)
)


def routes(src: view.Source) -> list[Route]:
    rates = view.Rates()
    static = {name: _static(name) for name in STATIC}
    cache: dict[str, Any] = {"token": None, "html": Markup()}
    lock = threading.Lock()

    def alerts(now: float) -> Markup:
        """The alerts section, rendered again only when what it shows changed (the page
        polls it twice a second; 1,000 alerts take a while to render)."""
        token = view.alerts_token(src, now)
        with lock:
            if cache["token"] == token:
                return Markup(cache["html"])
        html = _macro("alerts")(view.alert_groups(src, now))
        with lock:
            cache.update(token=token, html=html)
        return html

    def sections() -> dict[str, Markup]:
        now = src.clock.now()
        status = src.status()
        data: dict[str, Any] = {
            "head": view.header(src, status),
            "silences": view.silences(src, now),
            "rules": view.rules(src),
            "collectors": view.collectors(src, rates, status),
            "actions": (view.recent_actions(src), view.bans(src, now)),
        }
        out = {name: _macro(name)(data[name]) for name in data}
        out["alerts"] = alerts(now)
        return {name: out[name] for name in SECTIONS}

    def page(req: Request) -> Response:
        parts = sections()
        digests = {name: _digest(html) for name, html in parts.items()}
        html = _env.get_template("page.html").render(sections=parts, digests=digests)
        return Response(200, html.encode(), "text/html; charset=utf-8", HEADERS)

    def page_data(req: Request) -> Response:
        have = dict(
            item.split(":", 1) for item in (req.arg("have") or "").split(",") if ":" in item
        )
        out = {}
        for name, html in sections().items():
            digest = _digest(html)
            out[name] = {"digest": digest}
            if have.get(name) != digest:
                out[name]["html"] = str(html)
        return Response(200, Response.json({"sections": out}).body, "application/json", HEADERS)

    def asset(req: Request) -> Response:
        name = req.params["name"]
        if name not in static:
            raise HTTPError(404, f"no such file {name}")
        return Response(200, static[name], STATIC[name], {**HEADERS, "Cache-Control": "no-cache"})

    return [
        Route("GET", "/", page),
        Route("GET", "/api/v1/page", page_data),
        Route("GET", "/static/{name}", asset, public=True),
    ]


def _macro(name: str) -> Callable[[Any], Markup]:
    macro: Callable[[Any], Markup] = getattr(_env.get_template("sections.html").module, name)
    return macro


def _digest(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()[:16]


def _static(name: str) -> bytes:
    return resources.files("alerter.web").joinpath("static", name).read_bytes()
