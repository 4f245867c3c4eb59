"""The webhook notifier: Alertmanager's webhook JSON (version "4") field for field, or a Jinja
`body`; optional headers and an HMAC-SHA256 signature of the exact body."""

from __future__ import annotations

import hashlib
import hmac
import json

import jinja2
import requests

from alerter.errors import NotifyError
from alerter.notifiers.amjson import body_template, render_body, webhook_payload
from alerter.notifiers.config import NotifierConfig, WebhookSettings
from alerter.notifiers.delivery import post, prepare
from alerter.notifiers.model import Notification

SIGNATURE_HEADER = "X-Alerter-Signature"


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def webhook_request(
    n: Notification, s: WebhookSettings, template: jinja2.Template | None = None
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) for one notification. Pure."""
    if s.body is not None:
        body = render_body(template or body_template(s.body), n, s.max_alerts).encode()
    else:
        body = json.dumps(
            webhook_payload(n, s.max_alerts), ensure_ascii=False, separators=(",", ":")
        ).encode()
    headers = {"Content-Type": s.content_type, **s.headers}
    if s.hmac_secret is not None:
        headers[SIGNATURE_HEADER] = sign(s.hmac_secret, body)
    return body, headers


class WebhookNotifier:
    def __init__(self, config: NotifierConfig, session: requests.Session) -> None:
        assert isinstance(config.settings, WebhookSettings)
        self.name = config.name
        self.send_resolved = config.send_resolved
        self._settings = config.settings
        self._timeout = config.timeout
        self._session = session
        prepare(session)  # every call under one deadline
        self._template = (
            body_template(config.settings.body) if config.settings.body is not None else None
        )

    def send(self, notification: Notification) -> None:
        try:
            body, headers = webhook_request(notification, self._settings, self._template)
        except jinja2.TemplateError as e:  # the same data will fail the same way: no retry
            raise NotifyError(f"body template failed: {e}", retry=False) from None
        post(self._session, self._settings.url, body, headers, self._timeout)
