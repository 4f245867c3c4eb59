"""Request/response values and the route table of the HTTP API; parts register their routes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)  # from {name} in the route pattern

    def json(self) -> Any:
        """The body as JSON; raises HTTPError(400) when it is not."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as e:
            raise HTTPError(400, f"request body is not valid JSON: {e}") from None
        except RecursionError:
            raise HTTPError(400, "request body is JSON nested too deeply") from None

    def arg(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[0] if v else default

    def flag(self, name: str, default: bool) -> bool:
        """A true/false query argument; raises HTTPError(400) on another value."""
        v = self.arg(name)
        if v is None:
            return default
        if v.lower() in ("true", "1", "yes", "y", "on"):
            return True
        if v.lower() in ("false", "0", "no", "n", "off"):
            return False
        raise HTTPError(400, f"{name}: expected true or false, got {v!r}")


@dataclass(frozen=True, slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def json(data: Any, status: int = 200) -> Response:
        return Response(status, json.dumps(data, indent=None, default=str).encode())

    @staticmethod
    def text(
        text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> Response:
        return Response(status, text.encode(), content_type)


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """`pattern` like "/api/v1/silences/{id}". Mutating routes require the bearer token when
    one is set; other routes, unless public, when the API is reachable beyond loopback."""

    method: str
    pattern: str
    handler: Handler
    mutating: bool = False
    public: bool = False  # never needs the token: metrics and health, for scrapers and probes
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        rx = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.pattern))
        object.__setattr__(self, "regex", re.compile(f"^{rx}$"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        m = self.regex.match(path)
        return m.groupdict() if m else None
