"""A real SMTP server (aiosmtpd) on loopback for the email notifier's tests: an inbox, AUTH
for alerter/s3cret, a certificate from a test CA (trustme), the notifier's config entry, and
one alert mailed through the outbox."""

from __future__ import annotations

import contextlib
import email
import email.policy
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from alerter.notifiers import build_notifier
from alerter.notifiers.model import Notification, NotifiedAlert
from alerter.rules.alert import Alert
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore
from tests.alerter.dispatch.helpers import make_dispatcher, notifier_config, route, tr
from tests.conftest import wait_for


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.answer: str | None = None  # e.g. "451 try later" for the next DATA

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.answer is not None:
            answer, self.answer = self.answer, None
            return answer
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((envelope, msg))
        return "250 OK"


def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerter", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


@contextlib.contextmanager
def smtp_server(ca: trustme.CA, port: int, *, starttls: bool) -> Iterator[tuple[Controller, Inbox]]:
    """The server on 127.0.0.1:`port` with a certificate from `ca` and AUTH: after STARTTLS
    (required), or over TLS from the first byte (implicit TLS, as on port 465)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    inbox = Inbox()
    tls: dict[str, Any] = (
        {"tls_context": ctx, "require_starttls": True, "auth_require_tls": True}
        if starttls
        # aiosmtpd offers AUTH under auth_require_tls only after STARTTLS; here every byte is TLS
        else {"ssl_context": ctx, "auth_require_tls": False}
    )
    c = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=auth, **tls)
    c.start()
    try:
        yield c, inbox
    finally:
        c.stop()


def ca_file(ca: trustme.CA, directory: Path, name: str = "ca.pem") -> Path:
    path = directory / name
    ca.cert_pem.write_to_path(str(path))
    return path


def entry(port: int, ca_file: Path, password: str = "s3cret") -> str:
    return (
        f"{{name: mail, type: email, to: [ops@example.org, oncall@example.org], "
        f"from: alerter@example.org, smarthost: '127.0.0.1:{port}', auth_username: alerter, "
        f"auth_password: {password}, tls_config: {{ca_file: '{ca_file}'}}, timeout: 5s}}"
    )


def mail_through_outbox(entry: str, state_dir: Path, a: Alert, inbox: Inbox) -> None:
    """Hand `a` to a dispatcher routing to the email notifier `entry`; wait until the inbox
    holds one message."""
    cfg = notifier_config(entry)
    store = StateStore(state_dir)
    clock = SystemClock()
    d = make_dispatcher(
        store,
        clock,
        route("{receiver: mail, group_by: [alertname], group_wait: 0s}", ("mail",)),
        {"mail": build_notifier(cfg, requests.Session(), clock)},
        configs={"mail": cfg},
    )
    try:
        d.handle([tr(a)], clock.now())
        wait_for(lambda: len(inbox.messages) == 1, timeout=15)
    finally:
        d.stop()
        store.close()


def one_alert(subject_label: str = "web1") -> Notification:
    a = NotifiedAlert(
        status="firing",
        labels={"alertname": "HighLoad", "host": subject_label},
        annotations={"summary": "load"},
        starts_at=1_700_000_000.0,
        ends_at=None,
        fingerprint="abc",
    )
    return Notification("mail", "{}:{}", {"alertname": "HighLoad"}, (a,), 1_700_000_000.0)
