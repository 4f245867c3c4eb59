"""The email notifier against a real SMTP server (aiosmtpd) on loopback: STARTTLS with a
certificate made for the test (trustme), AUTH, text and HTML parts, through the outbox."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme
from aiosmtpd.controller import Controller

from alerter.errors import NotifyError
from alerter.notifiers import build_notifier
from alerter.notifiers.config import EmailSettings
from alerter.notifiers.mail import email_message, one_line
from alerter.runtime.wiring import SystemClock
from alerter.testing import free_port
from tests.alerter.dispatch.helpers import alert, notifier_config
from tests.alerter.notifiers.smtp import (
    Inbox,
    ca_file,
    entry,
    mail_through_outbox,
    one_alert,
    smtp_server,
)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp(ca: trustme.CA) -> Iterator[tuple[Controller, Inbox]]:
    with smtp_server(ca, free_port(), starttls=True) as server:
        yield server


def _port(c: Controller) -> int:
    return int(c.port)


@pytest.mark.integration
def test_an_alert_is_mailed_over_starttls_with_auth_through_the_outbox(
    smtp: tuple[Controller, Inbox], ca: trustme.CA, tmp_path: Path
) -> None:
    controller, inbox = smtp
    a = alert(t=SystemClock().now(), host="web1", severity="critical")
    a = dataclasses.replace(a, examples=("<script>alert(1)</script> from web1",))
    mail_through_outbox(
        entry(_port(controller), ca_file(ca, tmp_path)), tmp_path / "state", a, inbox
    )
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
    ca_pem = ca_file(ca, tmp_path)
    n = one_alert()
    bad = build_notifier(
        notifier_config(entry(_port(controller), ca_pem, "wrong")),
        requests.Session(),
        SystemClock(),
    )
    with pytest.raises(NotifyError) as e:
        bad.send(n)
    assert e.value.retry is False and "535" in str(e.value)
    good = build_notifier(
        notifier_config(entry(_port(controller), ca_pem)), requests.Session(), SystemClock()
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
    other = ca_file(trustme.CA(), tmp_path, "other-ca.pem")
    n = build_notifier(
        notifier_config(entry(_port(controller), other)), requests.Session(), SystemClock()
    )
    with pytest.raises(NotifyError) as e:
        n.send(one_alert())
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and inbox.messages == []


@pytest.mark.integration
def test_a_label_with_a_line_separator_is_mailed_and_log_escapes_are_shown_escaped(
    smtp: tuple[Controller, Inbox], ca: trustme.CA, tmp_path: Path
) -> None:
    # U+2028 in a header: Python's email refuses it as it refuses CR/LF, so such a label (a
    # `.*` group) failed every try of its message and held the lane behind it
    controller, inbox = smtp
    a = alert(t=SystemClock().now(), host="web\u20281\u0085x\u202e")
    a = dataclasses.replace(
        a,
        examples=("boom \x1b[2J\nforged line",),
        annotations={**a.annotations, "description": "Line one.\nRunbook: https://x"},
    )
    mail_through_outbox(
        entry(_port(controller), ca_file(ca, tmp_path)), tmp_path / "state", a, inbox
    )
    _, msg = inbox.messages[0]
    assert msg["Subject"] == "[FIRING:1] HighLoad (web 1 x )"
    text = msg.get_body(("plain",))
    assert text is not None
    assert "> boom \\x1b[2J\\nforged line" in text.get_content()
    assert "\x1b" not in text.get_content()
    body = text.get_content().replace("\r\n", "\n")
    assert "description: Line one.\nRunbook: https://x" in body  # as written
    assert one_line("a\u2028b\u2029c\x85d\u202ee") == "a b c d e"


def test_a_label_cannot_add_headers() -> None:
    s = EmailSettings(("ops@example.org",), "a@example.org", "127.0.0.1", 25)
    msg = email_message(one_alert("x\r\nBcc: victim@example.org"), s)
    assert msg["Bcc"] is None
    assert "\n" not in str(msg["Subject"]) and "Bcc: victim" in str(msg["Subject"])
    assert one_line("a\rb\nc\x00d") == "a b c d"


def test_a_bidi_override_from_a_log_line_is_shown_escaped_in_the_html_part() -> None:
    """U+202E would reverse the text after it in the mail reader (an address read backwards);
    the text part showed it escaped already, the HTML part now does too."""
    s = EmailSettings(("ops@example.org",), "a@example.org", "127.0.0.1", 25)
    n = one_alert("203.0.113.7\u202e7.311.0.302")
    a = dataclasses.replace(n.alerts[0], examples=("from 203.0.113.7\u202e7.311.0.302 <b>",))
    msg = email_message(dataclasses.replace(n, alerts=(a,)), s)
    html = msg.get_body(("html",))
    assert html is not None
    body = html.get_content()
    assert "\u202e" not in body
    assert "<td>203.0.113.7\\u202e7.311.0.302</td>" in body  # the label
    assert "from 203.0.113.7\\u202e7.311.0.302 &lt;b&gt;" in body  # the example line


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
    from alerter.core.yamlsource import SourceError

    with pytest.raises(SourceError) as e:
        notifier_config(entry)
    assert message in str(e.value)
