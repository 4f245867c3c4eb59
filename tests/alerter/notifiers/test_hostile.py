"""Receivers that answer badly on purpose, on real loopback sockets: an endless chunked body,
headers or a body trickled a byte at a time, redirects, a huge Retry-After. Each call ends,
bounded in memory and within the notifier's timeout, with the right retry decision."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.errors import NotifyError
from alerter.notifiers import build_notifier
from alerter.notifiers.delivery import MAX_ANSWER_BYTES, Answer, post
from alerter.notifiers.model import sample_notification
from alerter.protocols import Notifier
from alerter.runtime.wiring import SystemClock
from tests.alerter.dispatch.helpers import notifier_config

from .rawserver import (
    RawServer,
    answer,
    endless_chunked,
    trickle_body,
    trickle_headers,
)

pytestmark = pytest.mark.integration

CONFIGS = {
    "slack": "{{name: n, type: slack, webhook_url: '{url}/slack/T0/B0/secret', timeout: {t}}}",
    "webhook": "{{name: n, type: webhook, url: '{url}/hook/secret', timeout: {t}}}",
    "alertmanager": "{{name: n, type: alertmanager, urls: ['{url}'], timeout: {t}}}",
}
LIVENESS = 60.0  # a call not back by then is stuck (the failure this file guards against)


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    started: list[RawServer] = []

    def start(behave: Any, tls: ssl.SSLContext | None = None) -> RawServer:
        s = RawServer(behave, tls)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 and a server context using it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: apt-get install openssl")
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(crt), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return crt, ctx


def make(kind: str, url: str, timeout: str = "30s") -> Notifier:
    cfg = notifier_config(CONFIGS[kind].format(url=url, t=timeout))
    return build_notifier(cfg, requests.Session(), SystemClock())


def outcome(call: Callable[[], object]) -> BaseException | object:
    """Run `call` on a thread; its result or exception. Fails the test if it never returns."""
    box: list[BaseException | object] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as e:
            box.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(LIVENESS)
    assert box, f"the call did not return within {LIVENESS:g}s"
    return box[0]


def _tcp_rmem_max() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 32 << 20


# --- endless answers -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 500])
def test_an_endless_chunked_answer_is_read_only_up_to_the_cap(
    serve: Callable[..., RawServer], status: int
) -> None:
    server = serve(endless_chunked(status))
    tracemalloc.start()
    try:
        got = outcome(lambda: post(requests.Session(), f"{server.url}/hook", b"{}", {}, timeout=60))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if status == 200:
        assert isinstance(got, Answer) and got.truncated
        assert len(got.body) == MAX_ANSWER_BYTES
    else:
        assert isinstance(got, NotifyError) and got.retry
        assert "HTTP 500: xxx" in str(got) and len(str(got)) < 400
    assert server.hung_up.wait(10), "the client never closed the endless answer"
    # What the server got rid of: the cap, plus what the two kernels' buffers can hold. A
    # client reading it all would take hundreds of MB before its 60 s deadline.
    sndbuf = 2 * 65536 + 65536 + 16  # SO_SNDBUF (doubled by Linux) and one framed chunk
    assert server.sent <= MAX_ANSWER_BYTES + _tcp_rmem_max() + sndbuf
    assert peak < 8 * MAX_ANSWER_BYTES + (4 << 20)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_every_notifier_survives_an_endless_answer(
    serve: Callable[..., RawServer], kind: str
) -> None:
    server = serve(endless_chunked(503))
    got = outcome(lambda: make(kind, server.url).send(sample_notification()))
    assert isinstance(got, NotifyError) and got.retry
    assert server.hung_up.wait(10)


# --- trickled answers ------------------------------------------------------------------------


@pytest.mark.parametrize("behave", [trickle_headers, trickle_body], ids=["headers", "body"])
def test_a_trickled_answer_ends_at_the_deadline_and_is_retried(
    serve: Callable[..., RawServer], behave: Any
) -> None:
    # One byte every 50 ms never trips a per-read timeout of 1 s: only a deadline ends this.
    server = serve(behave)
    got = outcome(lambda: post(requests.Session(), f"{server.url}/x", b"{}", {}, timeout=1.0))
    assert isinstance(got, NotifyError), got
    assert got.retry is True
    assert "no complete answer" in str(got) and "within 1s" in str(got)
    assert server.hung_up.wait(10), "the trickling connection was never closed"


@pytest.mark.parametrize("behave", [trickle_headers, trickle_body], ids=["headers", "body"])
def test_a_trickled_answer_over_tls_ends_at_the_deadline(
    serve: Callable[..., RawServer], cert: tuple[Path, ssl.SSLContext], behave: Any
) -> None:
    crt, ctx = cert
    server = serve(behave, ctx)
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would win over verify
    session.verify = str(crt)
    got = outcome(lambda: post(session, f"{server.url}/x", b"{}", {}, timeout=1.0))
    assert isinstance(got, NotifyError), got
    assert got.retry is True and "within 1s" in str(got)
    assert server.hung_up.wait(10)
    assert len(server.requests) == 1  # the TLS handshake and the request went through


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_every_notifier_gives_up_on_trickled_headers(
    serve: Callable[..., RawServer], kind: str
) -> None:
    server = serve(trickle_headers)
    got = outcome(lambda: make(kind, server.url, "1s").send(sample_notification()))
    assert isinstance(got, NotifyError) and got.retry
    assert "within 1s" in str(got)


def test_a_session_used_after_a_cut_call_still_delivers(serve: Callable[..., RawServer]) -> None:
    slow = serve(trickle_headers)
    fine = serve(answer(200, b"ok"))
    session = requests.Session()
    assert isinstance(outcome(lambda: post(session, slow.url, b"{}", {}, timeout=0.5)), NotifyError)
    got = post(session, fine.url, b"{}", {}, timeout=5)
    assert got.status == 200 and got.text == "ok"


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_retried_and_never_followed(
    serve: Callable[..., RawServer], status: int
) -> None:
    elsewhere = serve(answer(200, b"ok"))
    server = serve(answer(status, headers={"Location": f"{elsewhere.url}/steal/secret"}))
    with pytest.raises(NotifyError) as e:
        post(requests.Session(), f"{server.url}/hook/token", b"{}", {}, timeout=5)
    assert e.value.retry is True
    msg = str(e.value)
    assert f"HTTP {status}" in msg and elsewhere.url in msg
    assert "secret" not in msg and "token" not in msg  # hosts only: paths may be secrets
    assert len(server.requests) == 1
    assert elsewhere.requests == []


@pytest.mark.parametrize("location", [None, "/relative/path", "http://[::1"])
def test_a_redirect_with_a_missing_relative_or_broken_location_is_retried(
    serve: Callable[..., RawServer], location: str | None
) -> None:
    server = serve(answer(302, headers={"Location": location} if location else {}))
    with pytest.raises(NotifyError) as e:
        post(requests.Session(), f"{server.url}/hook", b"{}", {}, timeout=5)
    assert e.value.retry is True
    assert "relative" not in str(e.value)
    # requests parses Location even when not following it; a broken one is still retried
    assert ("HTTP 302" if location != "http://[::1" else "cannot be parsed") in str(e.value)


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_a_huge_retry_after_is_passed_on_for_the_outbox_to_cap(
    serve: Callable[..., RawServer], status: int
) -> None:
    server = serve(answer(status, b"slow down", {"Retry-After": "999999"}))
    with pytest.raises(NotifyError) as e:
        post(requests.Session(), server.url, b"{}", {}, timeout=5)
    assert e.value.retry is True and e.value.retry_after == 999999


def test_a_retry_after_date_past_year_9999_is_ignored_and_still_retried(
    serve: Callable[..., RawServer],
) -> None:
    far = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
    server = serve(answer(429, b"slow down", {"Retry-After": far}))
    with pytest.raises(NotifyError) as e:  # (not an OverflowError out of the send)
        post(requests.Session(), server.url, b"{}", {}, timeout=5)
    assert e.value.retry is True and e.value.retry_after is None


def test_an_answer_echoing_the_url_does_not_put_its_secret_path_in_the_error(
    serve: Callable[..., RawServer],
) -> None:
    server = serve(answer(404, b"Cannot POST /services/T000/B000/XOXSECRETTOKEN"))
    with pytest.raises(NotifyError) as e:
        post(requests.Session(), server.url + "/services/T000/B000/XOXSECRETTOKEN", b"{}", {}, 5)
    assert "XOXSECRETTOKEN" not in str(e.value)
    assert str(e.value).endswith("answered HTTP 404: Cannot POST <secret>")


# --- Slack's answers -------------------------------------------------------------------------


def test_slack_ok_is_read_back(serve: Callable[..., RawServer]) -> None:
    server = serve(answer(200, b"ok"))
    make("slack", server.url).send(sample_notification())
    assert len(server.requests) == 1
    assert post(requests.Session(), server.url, b"{}", {}, timeout=5).text == "ok"


@pytest.mark.parametrize(
    ("status", "reply", "retry"),
    [
        (400, b"invalid_payload", False),
        (403, b"action_prohibited", False),
        (404, b"channel_not_found", False),
        (410, b"channel_is_archived", False),
        (500, b"rollup_error", True),
    ],
)
def test_slack_error_replies_are_reported(
    serve: Callable[..., RawServer], status: int, reply: bytes, retry: bool
) -> None:
    server = serve(answer(status, reply))
    with pytest.raises(NotifyError) as e:
        make("slack", server.url).send(sample_notification())
    assert e.value.retry is retry
    assert reply.decode() in str(e.value)
    assert "secret" not in str(e.value)
