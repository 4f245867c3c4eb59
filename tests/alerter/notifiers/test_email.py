"""The email notifier against a real SMTP server (aiosmtpd) on loopback: STARTTLS with a
certificate made for the test (trustme), AUTH, text and HTML parts, through the outbox."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from alerter.errors import NotifyError
from alerter.notifiers import build_notifier
from alerter.notifiers.config import EmailSettings
from alerter.notifiers.mail import email_message, one_line
from alerter.notifiers.model import Notification, NotifiedAlert
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore
from alerter.testing import free_port
from tests.alerter.dispatch.helpers import alert, make_dispatcher, notifier_config, route, tr
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


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerter", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp(ca: trustme.CA) -> Iterator[tuple[Controller, Inbox]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    inbox = Inbox()
    c = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=ctx,
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )
    c.start()
    try:
        yield c, inbox
    finally:
        c.stop()


def _port(c: Controller) -> int:
    return int(c.port)


def _config(port: int, ca_file: Path, password: str = "s3cret") -> str:
    return (
        f"{{name: mail, type: email, to: [ops@example.org, oncall@example.org], "
        f"from: alerter@example.org, smarthost: '127.0.0.1:{port}', auth_username: alerter, "
        f"auth_password: {password}, tls_config: {{ca_file: '{ca_file}'}}, timeout: 5s}}"
    )


@pytest.mark.integration
def test_an_alert_is_mailed_over_starttls_with_auth_through_the_outbox(
    smtp: tuple[Controller, Inbox], ca: trustme.CA, tmp_path: Path
) -> None:
    controller, inbox = smtp
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cfg = notifier_config(_config(_port(controller), ca_file))
    store = StateStore(tmp_path / "state")
    d = make_dispatcher(
        store,
        SystemClock(),
        route("{receiver: mail, group_by: [alertname], group_wait: 0s}", ("mail",)),
        {"mail": build_notifier(cfg, requests.Session(), SystemClock())},
        configs={"mail": cfg},
    )
    try:
        a = alert(t=SystemClock().now(), host="web1", severity="critical")
        a = dataclasses.replace(a, examples=("<script>alert(1)</script> from web1",))
        d.handle([tr(a)], SystemClock().now())
        wait_for(lambda: len(inbox.messages) == 1, timeout=15)
    finally:
        d.stop()
        store.close()
    envelope, msg = inbox.messages[0]
    assert envelope.mail_from == "alerter@example.org"
    assert sorted(envelope.rcpt_tos) == ["oncall@example.org", "ops@example.org"]
    assert msg["Subject"] == "[FIRING:1] HighLoad (web1 critical)"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "host = web1" in text.get_content()
    assert "<script>alert(1)</script>" in text.get_content()  # plain text shows it as it is
    body = html.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>" not in body


@pytest.mark.integration
def test_a_wrong_password_is_not_retried_and_a_4xx_is(
    smtp: tuple[Controller, Inbox], ca: trustme.CA, tmp_path: Path
) -> None:
    controller, inbox = smtp
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    n = _one_alert()
    bad = build_notifier(
        notifier_config(_config(_port(controller), ca_file, "wrong")),
        requests.Session(),
        SystemClock(),
    )
    with pytest.raises(NotifyError) as e:
        bad.send(n)
    assert e.value.retry is False and "535" in str(e.value)
    good = build_notifier(
        notifier_config(_config(_port(controller), ca_file)), requests.Session(), SystemClock()
    )
    inbox.answer = "451 4.3.0 try again later"
    with pytest.raises(NotifyError) as e:
        good.send(n)
    assert e.value.retry is True and "451" in str(e.value)
    good.send(n)
    assert len(inbox.messages) == 1


@pytest.mark.integration
def test_an_untrusted_certificate_is_refused(
    smtp: tuple[Controller, Inbox], tmp_path: Path
) -> None:
    controller, inbox = smtp
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    n = build_notifier(
        notifier_config(_config(_port(controller), other)), requests.Session(), SystemClock()
    )
    with pytest.raises(NotifyError) as e:
        n.send(_one_alert())
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and inbox.messages == []


def _one_alert(subject_label: str = "web1") -> Notification:
    a = NotifiedAlert(
        status="firing",
        labels={"alertname": "HighLoad", "host": subject_label},
        annotations={"summary": "load"},
        starts_at=1_700_000_000.0,
        ends_at=None,
        fingerprint="abc",
    )
    return Notification("mail", "{}:{}", {"alertname": "HighLoad"}, (a,), 1_700_000_000.0)


def test_a_label_cannot_add_headers() -> None:
    s = EmailSettings(("ops@example.org",), "a@example.org", "127.0.0.1", 25)
    msg = email_message(_one_alert("x\r\nBcc: victim@example.org"), s)
    assert msg["Bcc"] is None
    assert "\n" not in str(msg["Subject"]) and "Bcc: victim" in str(msg["Subject"])
    assert one_line("a\rb\nc\x00d") == "a b c d"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: m, type: email, from: a@b, smarthost: 'h:25'}", "missing required key 'to'"),
        ("{name: m, type: email, to: [x@y], from: a@b, smarthost: h}", "expected host:port"),
        (
            "{name: m, type: email, to: [x@y], from: a@b, smarthost: 'h:25', auth_password: p}",
            "set auth_username too",
        ),
        ("{name: p, type: pagerduty}", "missing required key 'routing_key'"),
        ("{name: p, type: pagerduty, routing_key: k, severity: high}", "severity"),
    ],
)
def test_config_mistakes(entry: str, message: str) -> None:
    from alerter.config.yamlsource import SourceError

    with pytest.raises(SourceError) as e:
        notifier_config(entry)
    assert message in str(e.value)
