"""HTTP delivery shared by the notifiers: one POST under a deadline, its answer read within a
byte cap, statuses mapped to retry or not.

- `timeout` is the whole call (connect, send, headers, body), enforced even against a server
  that trickles a byte at a time (see collectors/httpdeadline.py); running out is retryable.
- At most MAX_ANSWER_BYTES of the answer are read (enough for an error detail or Slack's
  `ok`); the rest is never read and the connection is closed.
- Network errors, 5xx, 429 and 3xx may succeed later (retry); 429's and 503's Retry-After is
  passed on (the outbox caps the wait). Redirects are never followed (a webhook URL must not
  send alerts to another host): the target's host is logged so the URL can be fixed. Any other
  non-2xx will not succeed later (Alertmanager's rule).

URLs are shown as scheme://host only: webhook URLs (Slack's especially) are secrets.

What requests takes from the environment (`HTTPS_PROXY`, `NO_PROXY` ..., `REQUESTS_CA_BUNDLE`,
`~/.netrc`) is read once per URL for the process's life, not at every POST: reading it was about
a tenth of a notification sender's time. A changed environment takes a restart (systemd gives a
service its environment at start anyway).
"""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from alerter.collectors import httpdeadline as deadline
from alerter.errors import NotifyError

MAX_ANSWER_BYTES = 64 << 10
"""Bytes of an answer read at most; more is dropped unread with the connection."""

_CHUNK = 8 << 10
_DETAIL_CHARS = 200  # of an answer's body, in an error message


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer: its status, headers, and body (the first MAX_ANSWER_BYTES at most)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def where(url: str) -> str:
    """A URL with its path, query and credentials stripped, fit for logs."""
    u = urlsplit(url)
    return f"{u.scheme}://{u.hostname or ''}{f':{u.port}' if u.port else ''}"


def _unreached(e: Exception) -> str:
    """Why a receiver was not reached, in words; never the exception's text, which holds the
    URL (a Slack webhook's path is its secret)."""
    text = str(e)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "unknown host name"
    if isinstance(e, requests.exceptions.SSLError):
        return "TLS failed (SSLError)"
    return type(e).__name__


def _without_secrets(text: str, url: str) -> str:
    """`text` (a receiver's answer) with the URL's path, query and credentials blanked: a
    server that echoes the request ("Cannot POST /services/T0/B0/SECRET") would put a Slack
    token in the logs."""
    u = urlsplit(url)
    for secret in (u.path, u.query, u.password, u.username):
        if secret and len(secret) > 1:
            text = text.replace(secret, "<secret>")
    return text


def prepare(session: requests.Session) -> None:
    """Make `session` obey post()'s deadline (done by post() too; idempotent)."""
    deadline.install(session)


class Session(requests.Session):
    """A notifier's session: what requests takes from the environment is read once per URL
    by post() (`_environment`), not at every call. Any other session reads it as requests
    does."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False


@functools.lru_cache(maxsize=1024)
def _environment(
    url: str,
) -> tuple[Mapping[str, str], str | bool | None, tuple[str, str] | None]:
    """What requests would read from the environment for a call to `url`: the proxies, the CA
    bundle to verify with, the ~/.netrc credentials."""
    with requests.Session() as s:
        settings = s.merge_environment_settings(url, {}, None, None, None)
    return settings["proxies"], settings["verify"], requests.utils.get_netrc_auth(url)


def post(
    session: requests.Session, url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> Answer:
    """POST `body` within `timeout` seconds in all; return the 2xx answer or raise NotifyError
    saying whether to retry."""
    prepare(session)
    env: dict[str, Any] = {}
    if isinstance(session, Session):
        proxies, verify, netrc = _environment(url)
        env = {"proxies": dict(proxies), "verify": verify, "auth": netrc}
    late = NotifyError(f"no complete answer from {where(url)} within {timeout:g}s", retry=True)
    with deadline.within(timeout) as d:
        try:
            resp = session.post(
                url,
                data=body,
                headers={"Accept-Encoding": "identity", **headers},
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
                **env,
            )
            try:
                content, truncated = _read(resp, d)
            finally:
                resp.close()
        except (requests.RequestException, OSError) as e:
            if d.expired or isinstance(e, requests.Timeout):
                raise late from None
            raise NotifyError(f"cannot reach {where(url)}: {_unreached(e)}", retry=True) from None
        except ValueError:  # requests parses a redirect's Location even when not following it
            if d.expired:
                raise late from None
            raise NotifyError(
                f"{where(url)} sent an answer that cannot be parsed", retry=True
            ) from None
        if content is None or d.expired:
            raise late  # a cut connection can look like a short answer: never trust it
    status = resp.status_code
    if 200 <= status < 300:
        return Answer(status, resp.headers, content, truncated)
    detail = _without_secrets(content.decode("utf-8", errors="replace"), url)
    detail = detail[:_DETAIL_CHARS].strip()
    msg = f"{where(url)} answered HTTP {status}" + (f": {detail}" if detail else "")
    if 300 <= status < 400:
        location = resp.headers.get("Location")
        target = _target(url, location)
        raise NotifyError(
            f"{msg} (redirect to {target}, not followed: set the URL it points to)", retry=True
        )
    if status == 429 or status == 503:
        after = parse_retry_after(resp.headers.get("Retry-After"))
        raise NotifyError(msg, retry=True, retry_after=after)
    if status >= 500:
        raise NotifyError(msg, retry=True)
    raise NotifyError(msg, retry=False)


def _target(url: str, location: str | None) -> str:
    """Where a redirect points, as scheme://host, for the error message."""
    if not location:
        return "nowhere"
    try:
        return where(urljoin(url, location))
    except ValueError:
        return "an invalid URL"


def _read(resp: requests.Response, d: deadline.Deadline) -> tuple[bytes | None, bool]:
    """The body up to MAX_ANSWER_BYTES and whether there was more; None if the deadline
    passed first."""
    got = bytearray()
    for chunk in resp.iter_content(_CHUNK):
        got += chunk
        if d.passed():
            return None, False
        if len(got) >= MAX_ANSWER_BYTES:
            return bytes(got[:MAX_ANSWER_BYTES]), True
    return bytes(got), False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    v = value.strip()
    if v.isascii() and v.isdigit():
        return float(v)
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, OverflowError):  # (a year past 9999 overflows)
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
