"""The email notifier against SMTP servers no well-behaved one is: a greeting trickled a byte
at a time (cut at `timeout`, the whole conversation), and one offering AUTH without TLS (the
password is never sent in clear)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest
import requests

from alerter.errors import NotifyError
from alerter.notifiers import build_notifier, mail
from alerter.notifiers.model import sample_notification
from alerter.protocols import Notifier
from alerter.runtime.wiring import SystemClock
from tests.alerter.dispatch.helpers import notifier_config

pytestmark = pytest.mark.integration  # (servers on loopback)


class SMTPScript:
    """A one-connection-at-a-time SMTP server on 127.0.0.1 running `script(conn)`."""

    def __init__(self, script: Callable[[SMTPScript, socket.socket], None]) -> None:
        self.script = script
        self.received = b""
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with suppress(OSError):
            conn, _ = self.listener.accept()
            with conn:
                self.script(self, conn)

    def close(self) -> None:
        self.stop.set()
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def server() -> Iterator[Callable[..., SMTPScript]]:
    made: list[SMTPScript] = []

    def make(script: Callable[[SMTPScript, socket.socket], None]) -> SMTPScript:
        made.append(SMTPScript(script))
        return made[-1]

    yield make
    for s in made:
        s.close()


def trickle(s: SMTPScript, conn: socket.socket) -> None:
    """A greeting a byte every 0.2 s, well inside smtplib's per-read timeout, never ending."""
    while not s.stop.wait(0.2):
        try:
            conn.sendall(b"2")
        except OSError:
            return


def offers_auth_in_clear(s: SMTPScript, conn: socket.socket) -> None:
    conn.sendall(b"220 mail.example.org ESMTP\r\n")
    f = conn.makefile("rb")
    for line in f:
        s.received += line
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            conn.sendall(b"250-mail.example.org\r\n250 AUTH PLAIN LOGIN\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"503 no\r\n")


def notifier(port: int, extra: str = "") -> Notifier:
    cfg = notifier_config(
        f"{{name: m, type: email, to: [ops@example.org], from: alerter@example.org,"
        f" smarthost: '127.0.0.1:{port}', timeout: 1s{extra}}}"
    )
    return build_notifier(cfg, requests.Session(), SystemClock())


def test_a_greeting_trickled_for_ever_is_cut_at_the_timeout(
    server: Callable[..., SMTPScript],
) -> None:
    s = server(trickle)
    with pytest.raises(NotifyError) as e:
        notifier(s.port).send(sample_notification())
    assert e.value.retry is True
    assert str(e.value) == f"127.0.0.1:{s.port}: no complete conversation within 1s"


def test_the_password_is_not_sent_where_the_server_offers_no_tls(
    server: Callable[..., SMTPScript], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail, "_loopback", lambda host: False)  # as if across the network
    s = server(offers_auth_in_clear)
    n = notifier(s.port, ", require_tls: false, auth_username: bob, auth_password: SECRETPW")
    with pytest.raises(NotifyError) as e:
        n.send(sample_notification())
    assert e.value.retry is False and "offers no TLS: the password is not sent in clear" in str(
        e.value
    )
    s.thread.join(10)
    assert s.received.upper().startswith(b"EHLO") and b"AUTH" not in s.received.upper()
