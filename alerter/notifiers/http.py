"""HTTP delivery shared by the notifiers: one POST with a timeout, statuses mapped to retry or not.

Network errors, 5xx and 429 may succeed later (retry; 429's Retry-After is honoured); any other
non-2xx will not (Alertmanager's rule). URLs are shown as scheme://host only: webhook URLs
(Slack's especially) are secrets.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from alerter.errors import NotifyError


def where(url: str) -> str:
    """A URL with its path, query and credentials stripped, fit for logs."""
    u = urlsplit(url)
    return f"{u.scheme}://{u.hostname or ''}{f':{u.port}' if u.port else ''}"


def post(
    session: requests.Session, url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> requests.Response:
    """POST `body`; return the 2xx response or raise NotifyError saying whether to retry."""
    try:
        resp = session.post(
            url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False
        )
    except requests.Timeout:
        raise NotifyError(f"no answer from {where(url)} within {timeout:g}s", retry=True) from None
    except requests.RequestException as e:
        raise NotifyError(f"cannot reach {where(url)}: {type(e).__name__}", retry=True) from None
    status = resp.status_code
    if 200 <= status < 300:
        return resp
    detail = resp.text[:200].strip()
    msg = f"{where(url)} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        raise NotifyError(
            msg, retry=True, retry_after=parse_retry_after(resp.headers.get("Retry-After"))
        )
    if status >= 500:
        raise NotifyError(msg, retry=True)
    raise NotifyError(msg, retry=False)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return float(v)
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
