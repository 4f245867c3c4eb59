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

    def request(
        self, method: str, path: str, body: Any = None, want: str | type[list[Any]] | None = None
    ) -> Any:
        """The JSON answer (None when empty). `want`: its shape, `list` or a key of the object
        (`"data"`); an answer of another shape is not alerter's (--url names another server)."""
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
        try:
            out = r.json() if r.content else None
        except ValueError:
            out = r.text
        if want is not None and not (
            isinstance(out, list) if want is list else isinstance(out, dict) and want in out
        ):
            raise APIClientError(f"{method} {path}: {NOT_ALERTER.format(url=self.url)}")
        return out

    def get(self, path: str, want: str | type[list[Any]] | None = None) -> Any:
        return self.request("GET", path, want=want)

    def post(self, path: str, body: Any, want: str | type[list[Any]] | None = None) -> Any:
        return self.request("POST", path, body, want)

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


NOT_ALERTER = "the answer is not alerter's API: is {url} alerter's address? (--url sets it)"


def _error_text(r: requests.Response) -> str:
    """The error of an answer: Alertmanager's JSON string, alerter's {"error": ...}, or text
    (its first line: a web page of another server, --url naming it, is not printed whole)."""
    try:
        body = r.json()
    except ValueError:
        text = r.text.strip()
        if text.startswith("<"):  # HTML: not alerter, whose errors are JSON or a line
            return f"{r.reason}; {NOT_ALERTER.format(url=r.url.split('/api/')[0])}"
        return text.split("\n", 1)[0][:200]
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return r.text.strip()
