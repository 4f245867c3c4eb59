"""The senders' line per notification keeps within a budget journald's rate limit leaves room
for: past it each line is at debug level and one summary counts them, at error level when the
lines held back include notifications lost."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from alerter.core.linebudget import BURST, SUMMARY_EVERY
from alerter.dispatch.sendlog import SendLog
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FixedClock, RecordingNotifier
from tests.conftest import wait_for

from .helpers import alert, make_dispatcher, route, tr

Logs = list[MutableMapping[str, Any]]


class Clock:
    def __init__(self) -> None:
        self.mono = 10.0

    def __call__(self) -> float:
        return self.mono


def lines(logs: Logs, event: str, level: str) -> Logs:
    return [e for e in logs if e["event"] == event and e["log_level"] == level]


def test_lines_past_the_budget_are_at_debug_and_a_lost_one_makes_the_summary_an_error() -> None:
    clock = Clock()
    sends = SendLog(clock)
    log = structlog.get_logger("test")
    with capture_logs() as logs:
        for i in range(BURST + 5):
            sends.say(log, "info", "notification_sent", "hook", "success", group_key=str(i))
        sends.say(log, "error", "notification_dropped", "am", "dropped", reason="max_age")
        sends.summarize(force=True)
    assert len(lines(logs, "notification_sent", "info")) == BURST
    assert len(lines(logs, "notification_sent", "debug")) == 5
    assert lines(logs, "notification_dropped", "debug") != []  # over budget: at debug, but...
    first, last = (e for e in logs if e["event"] == "notification_lines_not_logged")
    # the first line held back is told at once, the rest at the next summary
    assert (first["log_level"], first["count"], first["success"]) == ("info", 1, 1)
    assert last["log_level"] == "error"  # ...told as an error
    assert last["count"] == 5 and last["success"] == 4 and last["dropped"] == 1
    assert last["notifiers"] == {"am": 1, "hook": 4}

    clock.mono += SUMMARY_EVERY + 1.0  # the budget refilled: lines at their level again
    with capture_logs() as logs:
        sends.say(log, "error", "notification_failed", "hook", "failed")
        sends.summarize(force=True)
    assert len(lines(logs, "notification_failed", "error")) == 1
    assert lines(logs, "notification_lines_not_logged", "error") == []  # nothing held back


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path)
    yield s
    s.close()


def test_a_backlog_sent_logs_its_budget_at_info_and_counts_the_rest(store: StateStore) -> None:
    n = BURST + 400  # sent in well under 400 / RATE = 20 seconds
    clock = FixedClock()
    rec = RecordingNotifier("rec")
    m = Metrics(CollectorRegistry())
    d = make_dispatcher(
        store,
        clock,
        route("{receiver: rec, group_by: ['...'], group_wait: 0s}"),
        {"rec": rec},
        metrics=m,
    )
    with capture_logs() as logs:
        try:
            d.handle([tr(alert(host=f"h{i}")) for i in range(n)], clock.now())
            wait_for(lambda: len(rec.sent) == n, timeout=60)
        finally:
            d.stop()  # tells what is held back
    at_info = len(lines(logs, "notification_sent", "info"))
    assert BURST <= at_info < n
    assert len(lines(logs, "notification_sent", "debug")) == n - at_info
    told = lines(logs, "notification_lines_not_logged", "info")
    assert sum(s["success"] for s in told) == n - at_info
    sent = m.registry.get_sample_value(
        "alerter_notifications_total", {"notifier": "rec", "outcome": "success"}
    )
    assert sent == n  # the metric counts every one
