"""The email notifier over implicit TLS (smarthost port 465, as Alertmanager: TLS from the first
byte, no STARTTLS) against a real SMTP server (aiosmtpd) on loopback, with AUTH, through the
outbox; a certificate the CA file does not trust is refused there too."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme
from aiosmtpd.controller import Controller

from alerter.errors import NotifyError
from alerter.notifiers import build_notifier
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore
from tests.alerter.dispatch.helpers import alert, make_dispatcher, notifier_config, route, tr
from tests.alerter.notifiers.test_email import Inbox, _auth, _config, _one_alert
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

SMTPS = 465  # the notifier speaks implicit TLS on this port only


@pytest.fixture
def smtps() -> Iterator[tuple[trustme.CA, Inbox]]:
    if os.geteuid() != 0:
        pytest.skip("binding port 465 needs root")
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    inbox = Inbox()
    c = Controller(
        inbox,
        hostname="127.0.0.1",
        port=SMTPS,
        ssl_context=ctx,
        authenticator=_auth,
        # aiosmtpd offers AUTH under auth_require_tls only after STARTTLS; here every byte is TLS
        auth_require_tls=False,
    )
    c.start()
    try:
        yield ca, inbox
    finally:
        c.stop()


def test_an_alert_is_mailed_over_implicit_tls_with_auth_through_the_outbox(
    smtps: tuple[trustme.CA, Inbox], tmp_path: Path
) -> None:
    ca, inbox = smtps
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cfg = notifier_config(_config(SMTPS, ca_file))
    store = StateStore(tmp_path / "state")
    clock = SystemClock()
    d = make_dispatcher(
        store,
        clock,
        route("{receiver: mail, group_by: [alertname], group_wait: 0s}", ("mail",)),
        {"mail": build_notifier(cfg, requests.Session(), clock)},
        configs={"mail": cfg},
    )
    try:
        d.handle([tr(alert(t=clock.now(), host="web1", severity="critical"))], clock.now())
        wait_for(lambda: len(inbox.messages) == 1, timeout=15)
    finally:
        d.stop()
        store.close()
    envelope, msg = inbox.messages[0]
    assert envelope.mail_from == "alerter@example.org"
    assert sorted(envelope.rcpt_tos) == ["oncall@example.org", "ops@example.org"]
    assert msg["Subject"] == "[FIRING:1] HighLoad (web1 critical)"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None


def test_an_untrusted_certificate_is_refused_over_implicit_tls(
    smtps: tuple[trustme.CA, Inbox], tmp_path: Path
) -> None:
    _, inbox = smtps
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    n = build_notifier(notifier_config(_config(SMTPS, other)), requests.Session(), SystemClock())
    with pytest.raises(NotifyError) as e:
        n.send(_one_alert())
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and inbox.messages == []
