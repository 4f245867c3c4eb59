"""`GET /api/v1/actions`: the action history, newest first.

`?fingerprint=` narrows it to one alert, `?limit=` (default 500, at most 10000) caps it.
"""

from __future__ import annotations

from alerter.actions.banapi import routes as ban_routes
from alerter.actions.bans import BanExecutor
from alerter.actions.runner import ActionRunner
from alerter.api.routes import HTTPError, Request, Response, Route


def routes(runner: ActionRunner) -> list[Route]:
    def list_actions(req: Request) -> Response:
        raw = req.arg("limit", "500") or "500"
        if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
            raise HTTPError(400, f"limit: expected an integer from 1 to 10000, got {raw!r}")
        data = runner.history(req.arg("fingerprint"), limit=int(raw))
        return Response.json({"status": "success", "data": data})

    bans = runner.executors.get("ban")
    extra = ban_routes(bans) if isinstance(bans, BanExecutor) else []
    return [Route("GET", "/api/v1/actions", list_actions), *extra]
