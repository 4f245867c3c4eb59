"""`GET /api/v1/actions`: the action history, newest first (`?fingerprint=` narrows it)."""

from __future__ import annotations

from alerter.actions.runner import ActionRunner
from alerter.httpapi import Request, Response, Route


def routes(runner: ActionRunner) -> list[Route]:
    def list_actions(req: Request) -> Response:
        return Response.json({"status": "success", "data": runner.history(req.arg("fingerprint"))})

    return [Route("GET", "/api/v1/actions", list_actions)]
