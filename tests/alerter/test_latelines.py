"""Which late lines are live (alerter/runtime/latelines.py): late lines that keep one age for a
minute of the clock; told once per 10 minutes, shown while they keep coming."""

from __future__ import annotations

import structlog.testing

from alerter.runtime.latelines import STEADY_FOR, WARN_EVERY, LateLines, about, rules_text

T0 = 1_700_000_000.0


def test_late_lines_that_keep_their_age_for_a_minute_are_live() -> None:
    late = LateLines()
    with structlog.testing.capture_logs() as logs:
        late.note("app", 5, 3600.0, T0)
        late.note("app", 5, 3609.0, T0 + 30)  # within the jitter of the first
        assert late.status(T0 + 30) == {}
        late.note("app", 5, 3598.0, T0 + STEADY_FOR)
    assert [(e["collector"], e["lines"], e["age_s"]) for e in logs] == [("app", 15, 3600)]
    assert late.status(T0 + STEADY_FOR)["app"]["age_seconds"] == 3600


def test_an_age_that_moves_starts_over() -> None:
    """A backlog being caught up: its late lines get younger faster than the clock moves."""
    late = LateLines()
    with structlog.testing.capture_logs() as logs:
        for k in range(20):  # 20 s of clock, 80 s younger each second... for 10 minutes
            late.note("app", 5, 86400.0 - 80 * 30 * k, T0 + 30 * k)
    assert logs == [] and late.status(T0 + 600) == {}


def test_collectors_are_told_apart() -> None:
    late = LateLines()
    with structlog.testing.capture_logs() as logs:
        for k in range(3):
            late.note("app", 1, 3600.0, T0 + 30 * k)
            late.note("web", 1, 7200.0 - 3000 * k, T0 + 30 * k)  # a backlog
    assert [e["collector"] for e in logs] == ["app"]
    assert set(late.status(T0 + 60)) == {"app"}


def test_the_status_forgets_them_once_they_stop_or_after_a_reload() -> None:
    late = LateLines()
    late.note("app", 1, 3600.0, T0)
    late.note("app", 1, 3600.0, T0 + STEADY_FOR)
    assert set(late.status(T0 + STEADY_FOR + WARN_EVERY)) == {"app"}
    assert late.status(T0 + STEADY_FOR + WARN_EVERY + 1) == {}  # none for 10 minutes
    late.forget()
    assert late.status(T0 + STEADY_FOR) == {}


def test_a_reload_does_not_tell_again_within_ten_minutes() -> None:
    late = LateLines()
    with structlog.testing.capture_logs() as logs:
        late.note("app", 1, 3600.0, T0)
        late.note("app", 1, 3600.0, T0 + STEADY_FOR)
        late.forget()
        for k in range(1, 8):
            late.note("app", 1, 3600.0, T0 + STEADY_FOR + 60 * k)
    assert len(logs) == 1


def test_ages_are_said_as_an_operator_reads_them() -> None:
    assert [about(s) for s in (45, 600, 3600, 3601.5, 19800, 7 * 3600, 3 * 86400)] == [
        "~45s",
        "~10m",
        "~1h",
        "~1h",
        "~5.5h",
        "~7h",
        "~3d",
    ]


def test_the_warning_says_which_rules_miss_the_lines() -> None:
    late = LateLines()
    missed = (("SSHBruteForce", 600.0), ("Burst", 1800.0))
    with structlog.testing.capture_logs() as logs:
        late.note("app", 5, 3600.0, T0, missed)
        late.note("app", 5, 3600.0, T0 + STEADY_FOR, missed)
    (w,) = logs
    assert w["too_old_for"] == "SSHBruteForce (10m), Burst (30m)"
    assert late.status(T0 + STEADY_FOR)["app"]["too_old_for"] == w["too_old_for"]
    many = tuple((f"R{i}", 60.0 * i) for i in range(1, 6))
    assert rules_text(many) == "R1 (1m), R2 (2m), R3 (3m) and 2 more"
