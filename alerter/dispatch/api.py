"""The Alertmanager v2 subset the dispatcher serves, in Alertmanager 0.25's shapes
(api/v2/openapi.yaml), so amtool and karma work against alerter unchanged:

    GET    /api/v2/alerts            [gettableAlert]: the alerts the dispatcher holds as firing
                                     ?filter=MATCHER (repeatable) &active= &silenced= &inhibited=
                                     &unprocessed= (booleans, default true) &receiver=REGEX
    GET    /api/v2/alerts/groups     [alertGroup]: the same alerts by route group (karma reads it)
    GET    /api/v2/silences          [gettableSilence]  ?filter=MATCHER (repeatable)
    POST   /api/v2/silences          postableSilence -> {"silenceID": id}   (update: give "id");
                                     400 with the reason when invalid or past a limit
                                     (number, size, regex cost: alerter/dispatch/silences.py)
    GET    /api/v2/silence/{id}      gettableSilence, 404 when unknown
    DELETE /api/v2/silence/{id}      expire it; 500 with the reason when unknown (as 0.25 answers)

Errors are JSON strings, as Alertmanager's (amtool prints them). `/api/v2/status` is the
daemon's (alerter/api/endpoints.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from alerter.api.routes import HTTPError, Request, Response, Route
from alerter.dispatch.dispatcher import NotificationDispatcher
from alerter.dispatch.routing import group_labels
from alerter.dispatch.silences import SilenceNotFound, silence_from_api
from alerter.notifiers.amjson import gettable_alert
from alerter.protocols import Dispatcher
from alerter.rules.alert import Alert
from alerter.rules.matchers import Matcher, compile_matcher_regex, parse_matcher, value_matches


def routes(dispatcher: Dispatcher, engine_alerts: Callable[[], list[Alert]]) -> list[Route]:
    """`engine_alerts` is unused here (the Prometheus-shaped /api/v1/alerts is the daemon's)."""
    if not isinstance(dispatcher, NotificationDispatcher):
        return []
    d = dispatcher

    def now() -> float:
        return d.clock.now()

    def list_silences(req: Request) -> Response:
        t = now()
        matchers = _filters(req)
        chosen = [
            s
            for s in d.silences.all()
            if not matchers or _matches_filter(matchers, {m.name: m.value for m in s.matchers})
        ]
        chosen.sort(key=lambda s: _silence_order(s.state(t), s.starts_at, s.ends_at))
        return Response.json([s.to_api(t) for s in chosen])

    def post_silence(req: Request) -> Response:
        t = now()
        try:
            silence = silence_from_api(req.json(), t)
            sid = d.silences.add(silence, t)
        except SilenceNotFound as e:
            return _error(f"silence {e.args[0]} not found", 404)
        except HTTPError as e:
            return _error(e.message, e.status)
        except ValueError as e:
            return _error(str(e), 400)
        return Response.json({"silenceID": sid})

    def delete_silence(req: Request) -> Response:
        try:
            d.silences.expire(req.params["id"], now())
        except SilenceNotFound:
            return _error(f"silence {req.params['id']} not found", 500)
        return Response(200, b"", "application/json")

    def get_silence(req: Request) -> Response:
        s = d.silences.get(req.params["id"])
        if s is None:
            return _error(f"silence {req.params['id']} not found", 404)
        return Response.json(s.to_api(now()))

    def selected(req: Request) -> list[tuple[Alert, dict[str, Any], list[Any]]]:
        """The firing alerts the query selects, with their status and routes."""
        t = now()
        matchers = _filters(req)
        show = {k: req.flag(k, True) for k in ("active", "silenced", "inhibited")}
        receiver = _receiver_regex(req)
        out = []
        for a in d.firing():
            if matchers and not _matches_filter(matchers, a.labels):
                continue
            status = d.status(a, t)
            if status["state"] == "active" and not show["active"]:
                continue
            if (status["silencedBy"] and not show["silenced"]) or (
                status["inhibitedBy"] and not show["inhibited"]
            ):
                continue
            taken = d.routes_for(a.labels)
            if receiver is not None and not any(receiver.match(r.receiver) for r in taken):
                continue
            out.append((a, status, taken))
        return out

    def list_alerts(req: Request) -> Response:
        t = now()
        out = [
            gettable_alert(a, status, [r.receiver for r in taken], d.generator_url(a), t)
            for a, status, taken in selected(req)
        ]
        out.sort(key=lambda v: v["fingerprint"])
        return Response.json(out)

    def alert_groups(req: Request) -> Response:
        t = now()
        groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
        for a, status, taken in selected(req):
            view = gettable_alert(a, status, [r.receiver for r in taken], d.generator_url(a), t)
            for r in taken:
                labels = group_labels(r, a.labels)
                key = (r.id, r.receiver, tuple(sorted(labels.items())))
                g = groups.setdefault(
                    key, {"labels": labels, "receiver": {"name": r.receiver}, "alerts": []}
                )
                g["alerts"].append(view)
        for g in groups.values():
            g["alerts"].sort(key=lambda v: v["fingerprint"])
        return Response.json([groups[k] for k in sorted(groups)])

    def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def call(req: Request) -> Response:
            try:
                return handler(req)
            except HTTPError as e:
                return _error(e.message, e.status)

        return call

    return [
        Route("GET", "/api/v2/alerts", guarded(list_alerts)),
        Route("GET", "/api/v2/alerts/groups", guarded(alert_groups)),
        Route("GET", "/api/v2/silences", guarded(list_silences)),
        Route("POST", "/api/v2/silences", post_silence, mutating=True),
        Route("GET", "/api/v2/silence/{id}", get_silence),
        Route("DELETE", "/api/v2/silence/{id}", delete_silence, mutating=True),
    ]


def _error(message: str, status: int) -> Response:
    """Alertmanager's error body: a JSON string."""
    return Response.json(message, status)


def _filters(req: Request) -> list[Matcher]:
    try:
        return [parse_matcher(f) for f in req.query.get("filter", [])]
    except ValueError as e:
        raise HTTPError(400, f"bad matcher format: {e}") from None


def _matches_filter(matchers: list[Matcher], labels: Any) -> bool:
    """Alertmanager's matchFilterLabels: a label the set lacks fails = and =~ outright; != and
    !~ are tried against the empty value."""
    for m in matchers:
        v = labels.get(m.name)
        if v is None and m.is_equal:
            return False
        if not value_matches(m, v or ""):
            return False
    return True


def _silence_order(state: str, starts: float, ends: float) -> tuple[int, float]:
    """Alertmanager's SortSilences: active by end, pending by start, expired latest end first.
    (A silence is filtered by its matchers read as a label set, name -> pattern, as there.)"""
    if state == "pending":
        return (1, starts)
    if state == "expired":
        return (2, -ends)
    return (0, ends)


def _receiver_regex(req: Request) -> re.Pattern[str] | None:
    v = req.arg("receiver")
    if v is None:
        return None
    try:
        return compile_matcher_regex(v, "receiver")
    except ValueError as e:
        raise HTTPError(400, f"failed to parse receiver param: {e}") from None
