"""A small client for the daemon's HTTP API, used by the CLI subcommands."""

from __future__ import annotations

from typing import Any

import requests


class APIClientError(Exception):
    pass


class APIClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout
        self.has_token = bool(token)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            r = self.session.request(method, self.url + path, json=body, timeout=self.timeout)
        except requests.RequestException as e:
            raise APIClientError(unreachable(self.url, e, self.timeout)) from None
        if r.status_code >= 400:
            text = _error_text(r) or r.reason
            if r.status_code == 401:
                text += (
                    ": the token given is not the daemon's (its server.token_file)"
                    if self.has_token
                    else ": give the daemon's API token: -c CONFIG (its server.token_file), "
                    "or --token-file FILE"
                )
            raise APIClientError(f"{method} {path}: HTTP {r.status_code}: {text}")
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            return r.text

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def unreachable(url: str, e: requests.RequestException, timeout: float) -> str:
    """One line saying why the daemon did not answer, instead of urllib3's nested repr."""
    if isinstance(e, requests.Timeout):
        why = f"no answer within {timeout:g}s"
    elif isinstance(e, requests.ConnectionError):
        text = str(e)
        if "Connection refused" in text:
            why = "connection refused: is the daemon running? (systemctl status alerter)"
        elif "Name or service not known" in text or "nodename nor servname" in text:
            why = "unknown host name"
        else:
            why = "connection failed"
    elif isinstance(
        e,
        (
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,  # 127.0.0.1:9753 reads as scheme 127.0.0.1
            requests.exceptions.InvalidURL,
        ),
    ):
        return f"--url {url}: not a URL; give http://HOST:PORT (e.g. http://127.0.0.1:9753)"
    else:
        why = type(e).__name__
    return f"cannot reach alerter at {url}: {why}; --url sets the address"


def _error_text(r: requests.Response) -> str:
    """The error of an answer: Alertmanager's JSON string, alerter's {"error": ...}, or text."""
    try:
        body = r.json()
    except ValueError:
        return r.text.strip()
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return r.text.strip()
