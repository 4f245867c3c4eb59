"""The outbox against receivers that answer badly on purpose (real loopback sockets): a huge
Retry-After, an answer trickled for ever, a redirect. The notification is retried, never waits
longer than the cap, and is dropped and counted only once it is older than `max_age`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from alerter.dispatch import NotificationDispatcher
from alerter.dispatch.outbox import RETRY_AFTER_CAP
from alerter.notifiers import build_notifier
from alerter.protocols import Clock
from alerter.runtime.metrics import Metrics
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore
from alerter.testing import FixedClock
from tests.alerter.notifiers.rawserver import RawServer, answer, trickle_headers
from tests.conftest import HTTPReceiver, wait_for

from .helpers import alert, make_dispatcher, notifier_config, route, tr

pytestmark = pytest.mark.integration

ROUTE = "{receiver: hook, group_by: ['...'], group_wait: 0s}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path)
    yield s
    s.close()


def dispatcher(
    store: StateStore, url: str, metrics: Metrics, clock: Clock, extra: str = ""
) -> NotificationDispatcher:
    cfg = notifier_config(f"{{name: hook, type: webhook, url: '{url}/hook'{extra}}}")
    n = build_notifier(cfg, requests.Session(), clock)
    return make_dispatcher(
        store, clock, route(ROUTE, ("hook",)), {"hook": n}, metrics=metrics, configs={"hook": cfg}
    )


def count(metrics: Metrics, outcome: str) -> float:
    v = metrics.registry.get_sample_value(
        "alerter_notifications_total", {"notifier": "hook", "outcome": outcome}
    )
    return v or 0.0


def test_a_huge_retry_after_waits_the_cap_and_drops_only_past_max_age(store: StateStore) -> None:
    server = RawServer(answer(429, b"slow down", {"Retry-After": "999999"}))
    clock = FixedClock()
    m = Metrics(CollectorRegistry())
    d = dispatcher(store, server.url, m, clock, ", max_age: 10m")
    try:
        d.handle([tr(alert(host="a"))], clock.now())
        wait_for(lambda: count(m, "retry") == 1)
        ((next_attempt, created),) = store.query("SELECT next_attempt, created FROM outbox")
        assert next_attempt - created == pytest.approx(RETRY_AFTER_CAP)

        clock.advance(RETRY_AFTER_CAP + 1)  # the capped wait is over: tried again
        wait_for(lambda: count(m, "retry") == 2)
        assert len(server.requests) == 2
        assert count(m, "dropped") == 0 and d.pending_notifications() == 1

        clock.advance(RETRY_AFTER_CAP + 1)  # now older than max_age (600 s): dropped, counted
        wait_for(lambda: count(m, "dropped") == 1)
        assert d.pending_notifications() == 0
        assert len(server.requests) == 2 and count(m, "failed") == 0
    finally:
        d.stop()
        server.stop()


def test_a_receiver_trickling_its_answer_is_cut_retried_and_dropped_past_max_age(
    store: StateStore,
) -> None:
    server = RawServer(trickle_headers)
    m = Metrics(CollectorRegistry())
    d = dispatcher(store, server.url, m, SystemClock(), ", timeout: 500ms, max_age: 2s")
    try:
        d.handle([tr(alert(host="a"))], SystemClock().now())
        wait_for(lambda: count(m, "dropped") == 1, timeout=60)
        assert count(m, "retry") >= 1 and count(m, "success") == 0
        assert d.pending_notifications() == 0
        assert server.hung_up.wait(10)
    finally:
        d.stop()
        server.stop()


def test_a_redirect_is_retried_then_delivered_once(
    store: StateStore, http_receiver: HTTPReceiver
) -> None:
    http_receiver.statuses = [302]
    http_receiver.headers_to_send = {"Location": "http://127.0.0.1:9/elsewhere"}
    m = Metrics(CollectorRegistry())
    d = dispatcher(store, http_receiver.url, m, SystemClock())
    try:
        d.handle([tr(alert(host="a"))], SystemClock().now())
        (req,) = http_receiver.wait(1)
        assert req.path == "/hook"
        wait_for(lambda: count(m, "success") == 1)
        assert count(m, "retry") == 1 and count(m, "failed") == 0
        assert d.pending_notifications() == 0
    finally:
        d.stop()
