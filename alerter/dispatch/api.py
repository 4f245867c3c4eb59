"""HTTP endpoints of the dispatcher: silences (Alertmanager v2 JSON shapes) and alerts with
their silenced / inhibited status.

    GET    /api/v1/silences          [gettableSilence]
    POST   /api/v1/silences          postableSilence -> {"silenceID": id}   (update: give "id");
                                     400 with the reason when invalid or past a limit
                                     (number, size, regex cost: alerter/dispatch/silences.py)
    DELETE /api/v1/silences/{id}     expire it
    GET    /api/v1/alerts            [{labels, annotations, state, activeAt, value, fingerprint,
                                       silenced, inhibited, status}]
                                     ?filter=MATCHER (repeatable) &silenced=false &inhibited=false
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alerter.api.routes import HTTPError, Request, Response, Route
from alerter.dispatch.dispatcher import NotificationDispatcher
from alerter.dispatch.silences import SilenceNotFound, silence_from_api
from alerter.notifiers.model import rfc3339
from alerter.protocols import Dispatcher
from alerter.rules.alert import Alert
from alerter.rules.matchers import Matcher, matches_all, parse_matcher

_STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}


def routes(dispatcher: Dispatcher, engine_alerts: Callable[[], list[Alert]]) -> list[Route]:
    if not isinstance(dispatcher, NotificationDispatcher):
        return []
    d = dispatcher

    def now() -> float:
        return d.clock.now()

    def list_silences(req: Request) -> Response:
        t = now()
        matchers = _filters(req)
        out = [s.to_api(t) for s in d.silences.all()]
        if matchers:
            out = [s for s in out if _silence_matches(s, matchers)]
        out.sort(key=lambda s: (_STATE_ORDER[s["status"]["state"]], s["endsAt"]))
        return Response.json(out)

    def post_silence(req: Request) -> Response:
        t = now()
        try:
            silence = silence_from_api(req.json(), t)
            sid = d.silences.add(silence, t)
        except SilenceNotFound as e:
            raise HTTPError(404, f"silence {e.args[0]} not found") from None
        except ValueError as e:
            raise HTTPError(400, str(e)) from None
        return Response.json({"silenceID": sid})

    def delete_silence(req: Request) -> Response:
        try:
            d.silences.expire(req.params["id"], now())
        except SilenceNotFound:
            raise HTTPError(404, f"silence {req.params['id']} not found") from None
        return Response.json({})

    def get_silence(req: Request) -> Response:
        s = d.silences.get(req.params["id"])
        if s is None:
            raise HTTPError(404, f"silence {req.params['id']} not found")
        return Response.json(s.to_api(now()))

    def list_alerts(req: Request) -> Response:
        t = now()
        matchers = _filters(req)
        want_silenced = _bool_arg(req, "silenced")
        want_inhibited = _bool_arg(req, "inhibited")
        out = []
        for a in engine_alerts():
            if matchers and not matches_all(matchers, a.labels):
                continue
            view = alert_view(a, d.status(a, t))
            if (want_silenced is False and view["silenced"]) or (
                want_inhibited is False and view["inhibited"]
            ):
                continue
            out.append(view)
        out.sort(key=lambda v: (v["labels"].get("alertname", ""), v["fingerprint"]))
        return Response.json(out)

    return [
        Route("GET", "/api/v1/silences", list_silences),
        Route("POST", "/api/v1/silences", post_silence, mutating=True),
        Route("GET", "/api/v1/silences/{id}", get_silence),
        Route("DELETE", "/api/v1/silences/{id}", delete_silence, mutating=True),
        Route("GET", "/api/v1/alerts", list_alerts),
    ]


def alert_view(a: Alert, status: dict[str, Any]) -> dict[str, Any]:
    return {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "state": a.state,
        "activeAt": rfc3339(a.active_at),
        "value": a.value,
        "fingerprint": a.fingerprint,
        "silenced": bool(status["silencedBy"]),
        "inhibited": bool(status["inhibitedBy"]),
        "status": status,
    }


def _filters(req: Request) -> list[Matcher]:
    try:
        return [parse_matcher(f) for f in req.query.get("filter", [])]
    except ValueError as e:
        raise HTTPError(400, f"filter: {e}") from None


def _bool_arg(req: Request, name: str) -> bool | None:
    v = req.arg(name)
    if v is None:
        return None
    if v.lower() in ("true", "1"):
        return True
    if v.lower() in ("false", "0"):
        return False
    raise HTTPError(400, f"{name}: expected true or false, got {v!r}")


def _silence_matches(s: dict[str, Any], matchers: list[Matcher]) -> bool:
    """A silence passes a filter when its own matchers include an equal one (amtool's query)."""
    mine = {(m["name"], m["value"]) for m in s["matchers"]}
    return all((m.name, m.value) in mine for m in matchers)
