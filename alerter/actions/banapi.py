"""`GET/POST/DELETE /api/v1/bans`: the bans in force, and banning or lifting by hand.

GET lists the bans in force (`?all=true`: every recorded ban, newest first, `?limit=`);
POST `{"address": "203.0.113.7", "duration": "1h", "ports": [22], "comment": "..."}` bans now
(duration defaults to 10m); DELETE `/api/v1/bans/{address}` lifts, as does DELETE
`/api/v1/bans?address=...` or DELETE `/api/v1/bans` with `{"address": "..."}`. POST and DELETE
are mutating routes: they need the API token when one is configured.
"""

from __future__ import annotations

from typing import Any

from alerter.actions.banaddr import parse_address
from alerter.actions.banconfig import DEFAULT_DURATION, MAX_PORTS, ban_seconds, port_number
from alerter.actions.bans import BanExecutor, BanRefused
from alerter.api.routes import HTTPError, Request, Response, Route
from alerter.core.values import parse_duration
from alerter.errors import ActionError


def routes(bans: BanExecutor) -> list[Route]:
    def list_bans(req: Request) -> Response:
        now = bans.clock.now()
        if req.flag("all", False):
            raw = req.arg("limit", "500") or "500"
            if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
                raise HTTPError(400, f"limit: expected an integer from 1 to 10000, got {raw!r}")
            listed = bans.book.history(int(raw))
        else:
            listed = bans.book.in_force(now)
        return Response.json({"status": "success", "data": [b.to_json(now) for b in listed]})

    def add_ban(req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(400, 'expected a JSON object like {"address": "203.0.113.7"}')
        unknown = sorted(set(body) - BAN_KEYS)
        if unknown:  # a misspelt duration would ban for the default
            raise HTTPError(
                400, f"unknown key {unknown[0]!r} (expected {', '.join(sorted(BAN_KEYS))})"
            )
        try:
            address = parse_address(str(body.get("address", "")))
        except ValueError as e:
            raise HTTPError(400, f"address: {e}") from None
        seconds = _duration(body.get("duration"))
        ports = _ports(body.get("ports"))
        comment = body.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 1000:
            raise HTTPError(400, "comment: expected a string of at most 1000 characters")
        try:
            ban = bans.ban(address, seconds, ports, comment)
        except BanRefused as e:
            raise HTTPError(409, str(e)) from None
        except ActionError as e:
            raise HTTPError(500, f"ban not applied: {e}") from None
        return Response.json({"status": "success", "data": ban.to_json(bans.clock.now())})

    def lift_ban(req: Request) -> Response:
        return lift(req.params["address"])

    def lift_named(req: Request) -> Response:
        """DELETE /api/v1/bans naming the address in the query or the body."""
        raw = req.arg("address")
        if raw is None and req.body.strip():
            body = req.json()
            raw = str(body.get("address", "")) if isinstance(body, dict) else None
        if not raw:
            raise HTTPError(
                400,
                'address: expected ?address=ADDR, a body {"address": ADDR}, or the path '
                "/api/v1/bans/ADDR",
            )
        return lift(raw)

    def lift(raw: str) -> Response:
        try:
            address = parse_address(raw)
        except ValueError as e:
            raise HTTPError(400, f"address: {e}") from None
        try:
            ban = bans.lift(address)
        except ActionError as e:
            raise HTTPError(500, f"ban not lifted: {e}") from None
        if ban is None:
            raise HTTPError(404, f"{address} is not banned")
        return Response.json({"status": "success", "data": ban.to_json(bans.clock.now())})

    return [
        Route("GET", "/api/v1/bans", list_bans),
        Route("POST", "/api/v1/bans", add_ban, mutating=True),
        Route("DELETE", "/api/v1/bans", lift_named, mutating=True),
        Route("DELETE", "/api/v1/bans/{address}", lift_ban, mutating=True),
    ]


BAN_KEYS = frozenset({"address", "duration", "ports", "comment"})


def _duration(raw: Any) -> float:
    if raw is None:
        return DEFAULT_DURATION
    try:
        seconds = (
            float(raw)
            if isinstance(raw, (int, float)) and not isinstance(raw, bool)
            else parse_duration(str(raw))
        )
        return ban_seconds(seconds)
    except ValueError as e:
        raise HTTPError(400, f"duration: {e}") from None


def _ports(raw: Any) -> tuple[int, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_PORTS:
        raise HTTPError(400, f"ports: expected a list of at most {MAX_PORTS} port numbers")
    try:
        return tuple(sorted({port_number(p) for p in raw}))
    except ValueError as e:
        raise HTTPError(400, f"ports: {e}") from None
