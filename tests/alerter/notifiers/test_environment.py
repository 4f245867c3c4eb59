"""A notifier's session reads what requests takes from the environment (proxies, NO_PROXY, the
CA bundle, ~/.netrc) once per URL, not at every POST; it is still obeyed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerter.notifiers import delivery
from tests.conftest import HTTPReceiver, receiving


@pytest.fixture(autouse=True)
def fresh_environment() -> Iterator[None]:
    delivery._environment.cache_clear()
    yield
    delivery._environment.cache_clear()


def test_a_proxy_from_the_environment_carries_the_post(
    http_receiver: HTTPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = http_receiver  # answers 200 to whatever it is asked: a proxy as far as we care
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with delivery.Session() as session:
        for _ in range(2):
            delivery.post(session, "http://hooks.example.invalid/in", b"{}", {}, timeout=5)
    got = proxy.wait(2)
    assert [r.path for r in got] == ["http://hooks.example.invalid/in"] * 2  # absolute: proxied


def test_no_proxy_from_the_environment_is_obeyed(
    http_receiver: HTTPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiving() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with delivery.Session() as session:
            delivery.post(session, f"{http_receiver.url}/in", b"{}", {}, timeout=5)
        (got,) = http_receiver.wait(1)
        assert got.path == "/in" and proxy.requests == []  # straight to it
