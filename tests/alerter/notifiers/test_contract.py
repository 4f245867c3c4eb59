"""One contract for every HTTP notifier, against a real receiver on loopback: 2xx delivers,
5xx / 429 / connection errors are retryable (429 with its Retry-After), other 4xx are not."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests

from alerter.errors import NotifyError
from alerter.notifiers import build_notifier
from alerter.notifiers.model import sample_notification
from alerter.protocols import Notifier
from alerter.runtime.wiring import SystemClock
from alerter.testing import free_port
from tests.alerter.dispatch.helpers import notifier_config
from tests.conftest import HTTPReceiver, start_receiver

CONFIGS = {
    "slack": "{{name: n, type: slack, webhook_url: '{url}/slack'}}",
    "webhook": "{{name: n, type: webhook, url: '{url}/hook'}}",
    "alertmanager": "{{name: n, type: alertmanager, urls: ['{url}']}}",
}


@pytest.fixture(scope="module")
def shared_receiver() -> Iterator[HTTPReceiver]:
    rec = start_receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def http_receiver(shared_receiver: HTTPReceiver) -> HTTPReceiver:
    """One server for the module (shutting one down takes 0.5 s), reset for each test."""
    with shared_receiver.event:
        shared_receiver.requests.clear()
        shared_receiver.statuses.clear()
        shared_receiver.headers_to_send.clear()
    return shared_receiver


def make(kind: str, url: str) -> Notifier:
    cfg = notifier_config(CONFIGS[kind].format(url=url))
    return build_notifier(cfg, requests.Session(), SystemClock())


@pytest.mark.integration
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_2xx_delivers_a_json_body(kind: str, http_receiver: HTTPReceiver) -> None:
    make(kind, http_receiver.url).send(sample_notification())
    (req,) = http_receiver.wait(1)
    assert req.method == "POST" and req.headers["Content-Type"] == "application/json"
    assert req.json()
    if kind == "alertmanager":
        assert req.path == "/api/v2/alerts"


@pytest.mark.integration
@pytest.mark.parametrize("kind", sorted(CONFIGS))
@pytest.mark.parametrize(
    ("status", "retry"), [(500, True), (503, True), (400, False), (404, False)]
)
def test_status_decides_retry(
    kind: str, status: int, retry: bool, http_receiver: HTTPReceiver
) -> None:
    http_receiver.statuses = [status]
    with pytest.raises(NotifyError) as e:
        make(kind, http_receiver.url).send(sample_notification())
    assert e.value.retry is retry
    assert str(status) in str(e.value)


@pytest.mark.integration
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_429_is_retryable_after_its_retry_after(kind: str, http_receiver: HTTPReceiver) -> None:
    http_receiver.statuses = [429]
    http_receiver.headers_to_send = {"Retry-After": "7"}
    with pytest.raises(NotifyError) as e:
        make(kind, http_receiver.url).send(sample_notification())
    assert e.value.retry is True and e.value.retry_after == 7


@pytest.mark.integration
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_unreachable_receiver_is_retryable_and_the_url_is_not_logged(kind: str) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(NotifyError) as e:
        make(kind, f"http://127.0.0.1:{port}").send(sample_notification())
    assert e.value.retry is True
    assert "/slack" not in str(e.value) and "/hook" not in str(e.value)


def test_console_writes_one_line_per_alert() -> None:
    out = io.StringIO()
    cfg = notifier_config("{name: c, type: console}")
    build_notifier(cfg, requests.Session(), SystemClock(), out).send(sample_notification())
    assert len(out.getvalue().splitlines()) == len(sample_notification().alerts)
