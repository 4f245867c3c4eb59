"""The email notifier over implicit TLS (smarthost port 465, as Alertmanager: TLS from the first
byte, no STARTTLS) against a real SMTP server (aiosmtpd) on loopback, with AUTH, through the
outbox; a certificate the CA file does not trust is refused there too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme

from alerter.errors import NotifyError
from alerter.notifiers import build_notifier
from alerter.runtime.wiring import SystemClock
from tests.alerter.dispatch.helpers import alert, notifier_config
from tests.alerter.notifiers.smtp import (
    Inbox,
    ca_file,
    entry,
    mail_through_outbox,
    one_alert,
    smtp_server,
)

pytestmark = pytest.mark.integration

SMTPS = 465  # the notifier speaks implicit TLS on this port only


@pytest.fixture
def smtps() -> Iterator[tuple[trustme.CA, Inbox]]:
    if os.geteuid() != 0:
        pytest.skip("binding port 465 needs root")
    ca = trustme.CA()
    with smtp_server(ca, SMTPS, starttls=False) as (_, inbox):
        yield ca, inbox


def test_an_alert_is_mailed_over_implicit_tls_with_auth_through_the_outbox(
    smtps: tuple[trustme.CA, Inbox], tmp_path: Path
) -> None:
    ca, inbox = smtps
    a = alert(t=SystemClock().now(), host="web1", severity="critical")
    mail_through_outbox(entry(SMTPS, ca_file(ca, tmp_path)), tmp_path / "state", a, inbox)
    envelope, msg = inbox.messages[0]
    assert envelope.mail_from == "alerter@example.org"
    assert sorted(envelope.rcpt_tos) == ["oncall@example.org", "ops@example.org"]
    assert msg["Subject"] == "[FIRING:1] HighLoad (web1 critical)"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None


def test_an_untrusted_certificate_is_refused_over_implicit_tls(
    smtps: tuple[trustme.CA, Inbox], tmp_path: Path
) -> None:
    _, inbox = smtps
    other = ca_file(trustme.CA(), tmp_path, "other-ca.pem")
    n = build_notifier(notifier_config(entry(SMTPS, other)), requests.Session(), SystemClock())
    with pytest.raises(NotifyError) as e:
        n.send(one_alert())
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and inbox.messages == []
