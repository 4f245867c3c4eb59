"""The alert_transition lines keep within a budget journald's rate limit leaves room for: a
storm of alerts is counted in a summary line, each transition past the budget at debug."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from structlog.testing import capture_logs

from alerter.rules.alert import Alert, State, Transition
from alerter.runtime.transitionlog import BURST, RATE, SUMMARY_EVERY, TransitionLog


class Clock:
    def __init__(self) -> None:
        self.mono = 100.0

    def __call__(self) -> float:
        return self.mono


def fired(name: str, n: int, state: State = "firing") -> list[Transition]:
    return [
        Transition(1.0, "pending", Alert({"alertname": name, "key": str(i)}, {}, state, 1.0, 1.0))
        for i in range(n)
    ]


def info(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == event and e["log_level"] == "info"]


def test_a_few_transitions_are_each_logged_at_info() -> None:
    with capture_logs() as logs:
        TransitionLog(Clock()).log(fired("SSHBruteForce", 3))
    lines = info(logs, "alert_transition")
    assert [(e["alertname"], e["state"], e["previous"]) for e in lines] == [
        ("SSHBruteForce", "firing", "pending")
    ] * 3
    assert info(logs, "alert_transitions_not_logged") == []


def test_a_storm_is_logged_up_to_its_budget_then_counted_in_a_summary() -> None:
    clock = Clock()
    tlog = TransitionLog(clock)
    with capture_logs() as logs:
        tlog.log(fired("StormKey", BURST + 40) + fired("Other", 10, "resolved"))
    assert len(info(logs, "alert_transition")) == BURST
    assert sum(e["event"] == "alert_transition" for e in logs) == BURST + 50  # the rest at debug
    (summary,) = info(logs, "alert_transitions_not_logged")
    assert summary["count"] == 50 and summary["firing"] == 40 and summary["resolved"] == 10
    assert summary["alerts"] == {"StormKey": 40, "Other": 10} and summary["other_alerts"] == 0

    clock.mono += 1.0  # a second refills RATE lines; the next summary waits SUMMARY_EVERY
    with capture_logs() as logs:
        tlog.log(fired("StormKey", 100))
    assert len(info(logs, "alert_transition")) == RATE
    assert info(logs, "alert_transitions_not_logged") == []
    clock.mono += SUMMARY_EVERY
    with capture_logs() as logs:
        tlog.summarize()
    (summary,) = info(logs, "alert_transitions_not_logged")
    assert summary["count"] == 100 - RATE
    with capture_logs() as logs:
        tlog.summarize(force=True)
    assert logs == []  # nothing held back any more


def test_the_summary_names_the_alerts_with_most_transitions_and_counts_the_others() -> None:
    tlog = TransitionLog(Clock())
    with capture_logs() as logs:
        tlog.log(fired("Big", BURST) + [t for i in range(12) for t in fired(f"A{i:02}", i + 1)])
    (summary,) = info(logs, "alert_transitions_not_logged")
    alerts = summary["alerts"]
    assert isinstance(alerts, dict) and len(alerts) == 10
    assert alerts["A11"] == 12 and "A00" not in alerts and "A01" not in alerts
    assert summary["other_alerts"] == 1 + 2
