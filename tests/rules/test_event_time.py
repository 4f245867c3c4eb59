"""Event time in the engine (DESIGN "Event time"): each line is placed at the time written in
it, evaluations happen at the engine's clock, and a line older than a rule's window counts
for nothing in that rule (counted as late)."""

from __future__ import annotations

import random

import pytest

from alerter.collectors.parsers import ParserConfig, batch, make_parser
from alerter.core.events import LogBatch, LogEvent
from alerter.core.eventtime import FUTURE
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.testing import RecordingHooks

RULES = """
groups:
  - name: ssh
    interval: 15s
    rules:
      - alert: Brute
        logs: {match: 'Failed password for \\S+ from (?P<ip>\\S+)'}
        aggregate: count
        by: [ip]
        over: 10m
        threshold: '>= 5'
"""
NOW = 1_800_000_000.0
PARSER = make_parser(ParserConfig("regex", r"^(?P<t>\d+(?:\.\d+)?) ", "t", "epoch"))


def engine(hooks: RecordingHooks | None = None) -> Engine:
    return Engine(load_rule_files([("t.yaml", RULES)], default_interval=15), {}, hooks)


def failures(times: list[float], ip: str = "1.2.3.4") -> list[str]:
    return [f"{t:.0f} sshd[1]: Failed password for root from {ip} port 22 ssh2" for t in times]


def text_batch(lines: list[str], read: float) -> LogBatch:
    return batch(PARSER, "auth", read, text="\n".join(lines))


def test_a_year_old_backlog_fires_nothing_and_is_counted_late() -> None:
    hooks = RecordingHooks()
    e = engine(hooks)
    year_ago = NOW - 365 * 86400
    lines = failures([year_ago + 10 * i for i in range(300)])
    assert e.process(text_batch(lines, NOW), NOW) == []
    assert e.tick(NOW) == []
    assert e.alerts() == []
    assert hooks.uncounted == [("auth", 300, 365 * 86400 - 2990)]  # the age: the newest's


def test_only_the_lines_inside_the_window_count() -> None:
    hooks = RecordingHooks()
    e = engine(hooks)
    old = failures([NOW - 1200 + i for i in range(3)])  # 20 minutes ago: out of the 10m window
    recent = failures([NOW - 120 + i for i in range(3)])
    assert e.process(text_batch(old + recent, NOW), NOW) == []  # 3 in the window, not 6
    # the newest late line's age: NOW - (NOW - 1200 + 2)
    assert hooks.uncounted == [("auth", 3, 1198)]
    ts = e.process(text_batch(failures([NOW - 60, NOW - 30]), NOW), NOW)
    assert [(t.alert.alertname, t.state, t.alert.value) for t in ts] == [("Brute", "firing", 5.0)]


def test_placed_lines_leave_the_window_at_their_own_time() -> None:
    e = engine()
    lines = failures([NOW - 540 + i for i in range(5)])  # 9 minutes old
    ts = e.process(text_batch(lines, NOW), NOW)
    assert [t.state for t in ts] == ["firing"]
    assert ts[0].time == NOW  # transitions happen at the clock, not at the lines' time
    # read-time placement would keep them until NOW + 600; their own time ends them sooner
    assert [t.state for t in e.tick(NOW + 30)] == []
    assert [t.state for t in e.tick(NOW + 75)] == ["resolved"]


def test_a_line_stepping_back_is_placed_or_skipped() -> None:
    hooks = RecordingHooks()
    e = engine(hooks)
    t0 = NOW
    e.process(text_batch(failures([t0 + i for i in range(4)]), t0 + 4), t0 + 4)
    # an hour back: outside the window at the clock, skipped and counted
    assert e.process(text_batch(failures([t0 - 3600]), t0 + 5), t0 + 5) == []
    assert hooks.uncounted_counts() == [("auth", 1)]
    # five minutes back: inside the window, counted in its own bucket
    ts = e.process(text_batch(failures([t0 - 300]), t0 + 6), t0 + 6)
    assert [t.state for t in ts] == ["firing"]
    # the stepped-back line leaves at its own time (t0 + 300), not with the newest ones
    assert e.tick(t0 + 290) == []
    assert [t.state for t in e.tick(t0 + 310)] == ["resolved"]


def test_counts_of_lines_stepping_back_expire() -> None:
    """A file whose time keeps stepping back must not pile up counts that never expire."""
    e = engine()
    for k in range(40):  # each batch 30 s later on the clock, its lines written 8 min earlier
        clock = NOW + 30 * k
        e.process(text_batch(failures([clock - 480]), clock), clock)
        e.tick(clock)
    # 40 lines in 20 minutes, each placed 8 minutes back: at most 20 are ever in the window
    firing = [a for a in e.alerts() if a.state == "firing"]
    assert firing and all(a.value is not None and a.value <= 20 for a in firing)
    quiet = NOW + 30 * 40 + 600
    e.tick(quiet)
    assert e.alerts() == []


def test_a_time_far_in_the_future_is_read_time() -> None:
    b = text_batch(failures([NOW + FUTURE + 60, NOW + 10]), NOW)
    assert [(t, len(r)) for t, r in b.at_times()] == [(NOW, 1), (NOW + 10, 1)]


def test_lines_without_a_time_are_at_read_time() -> None:
    b = text_batch(["junk", *failures([NOW - 5])], NOW)
    assert [(t, len(r)) for t, r in b.at_times()] == [(NOW, 1), (NOW - 5, 1)]


def test_one_run_is_the_batch_itself() -> None:
    b = text_batch(failures([NOW - 1] * 50), NOW)
    assert b.at_times() == [(NOW - 1, b)]
    assert b.parsed_lines() == []  # times read, no line parsed


def test_given_events_keep_their_own_times() -> None:
    evs = [LogEvent(t, "j", "x") for t in (NOW - 10, NOW - 10, NOW - 5)]
    b = LogBatch.of_events("j", NOW, evs)
    assert [(t, [e.time for e in r]) for t, r in b.at_times()] == [
        (NOW - 10, [NOW - 10, NOW - 10]),
        (NOW - 5, [NOW - 5]),
    ]


def test_runs_are_the_lines_of_each_time_in_order() -> None:
    rng = random.Random(13)
    for _ in range(200):
        n = rng.randint(1, 60)
        t, times = NOW - 1000, []
        for _ in range(n):
            t += rng.choice((0, 0, 0, 1, 2, 30, -50))  # some lines step back
            times.append(t)
        lines = failures(times)
        expected: list[tuple[float, list[str]]] = []
        for tm, line in zip(times, lines, strict=True):
            if expected and expected[-1][0] == tm:
                expected[-1][1].append(line)
            else:
                expected.append((tm, [line]))
        got = [(tm, list(r.lines)) for tm, r in text_batch(lines, NOW).at_times()]
        assert got == expected


def test_parse_errors_of_runs_count_in_the_batch() -> None:
    b = batch(
        make_parser(ParserConfig("regex", r"^(?P<t>\d+) (?P<w>[a-z]+)$", "t", "epoch")),
        "s",
        NOW,
        text="100 a\n100 -\n200 b\n200 -",
    )
    for _, run in b.at_times():
        list(run)  # every line parsed
    assert b.parse_errors == 2


def test_a_line_ahead_of_the_clock_does_not_expire_older_ones() -> None:
    e = engine()
    assert e.process(text_batch(failures([NOW - 590 + i for i in range(4)]), NOW), NOW) == []
    # a writer's clock 4 minutes ahead: placed at its time, evaluated at the engine's clock
    ts = e.process(text_batch(failures([NOW + 240]), NOW), NOW)
    assert [(t.state, t.alert.value, t.time) for t in ts] == [("firing", 5.0, NOW)]


def test_a_year_old_syslog_backlog_stamped_later_in_the_day_is_last_years() -> None:
    """Year-less stamps: one more than 5 minutes ahead of now was written last year, so a
    year-old auth.log read from its start is not taken for lines of the coming hours."""
    import time as _time

    syslog = make_parser(ParserConfig("syslog"), clock=lambda: NOW)

    def stamp(t: float) -> str:
        return _time.strftime("%b %e %H:%M:%S", _time.localtime(t))

    # a year ago, the hours around this time of day: 2 hours before it to 4 hours after it,
    # but for the quarter of an hour around now (a year-less stamp cannot tell those apart)
    times = [NOW - 7200 + 60 * i for i in range(360) if not -900 < 60 * i - 7200 < 600]
    lines = [
        f"{stamp(t)} host sshd[7]: Failed password for root from 198.51.100.7 port 22"
        for t in times
    ]
    hooks = RecordingHooks()
    e = engine(hooks)
    assert e.process(batch(syslog, "auth", NOW, text="\n".join(lines)), NOW) == []
    assert e.alerts() == []
    assert hooks.uncounted_counts() == [("auth", len(times))]
    assert syslog.times([lines[-1]])[0] == pytest.approx(times[-1] - 365 * 86400, abs=86400)
    # a few minutes ahead is a clock a little fast, not last year
    ahead = f"{stamp(NOW + 120)} host sshd[7]: x"
    assert syslog.times([ahead]) == [NOW + 120]


def test_a_line_counted_by_one_rule_is_not_late_for_being_old_for_another() -> None:
    # alerter_events_late_total is the lines no rule could count: a 5-minute-old line is too
    # old for a 1m window but counts in a 30m one (it was counted as late)
    rules = """
groups:
  - name: g
    interval: 15s
    rules:
      - {alert: Short, logs: {match: 'ERROR'}, aggregate: count, over: 1m, threshold: '>= 1'}
      - {alert: Long, logs: {match: 'ERROR'}, aggregate: count, over: 30m, threshold: '>= 1'}
"""
    hooks = RecordingHooks()
    e = Engine(load_rule_files([("t.yaml", rules)], default_interval=15), {}, hooks)
    fired = e.process(text_batch([f"{NOW - 300:.0f} ERROR x"], NOW), NOW)
    assert [t.alert.alertname for t in fired if t.alert.state == "firing"] == ["Long"]
    assert hooks.uncounted == []
    e.process(text_batch([f"{NOW - 3600:.0f} ERROR y"] * 2, NOW), NOW)  # old for both
    assert hooks.uncounted_counts() == [("auth", 2)]


def test_lines_too_old_for_some_rule_are_reported_with_the_rules_that_missed_them() -> None:
    # a day's rule beside a 10m one counts lines an hour old (a wrong zone): they are not late
    # for every rule, yet the 10m rule misses every one; the live-late diagnostic is told
    rules = """
groups:
  - name: g
    interval: 15s
    rules:
      - {alert: Burst, logs: {match: 'ERROR'}, aggregate: count, over: 10m, threshold: '>= 5'}
      - {alert: Spike, logs: {match: 'ERROR'}, aggregate: count, over: 20m, threshold: '>= 9'}
      - {alert: Daily, logs: {match: 'ERROR'}, aggregate: count, over: 1d, threshold: '>= 500'}
"""
    hooks = RecordingHooks()
    e = Engine(load_rule_files([("t.yaml", rules)], default_interval=15), {}, hooks)
    e.process(text_batch([f"{NOW - 30:.0f} ERROR fresh"], NOW), NOW)
    assert hooks.too_old == []  # (the common path: nothing to tell)
    old = [f"{NOW - 3610:.0f} ERROR a", f"{NOW - 3600:.0f} ERROR b", f"{NOW - 900:.0f} ERROR c"]
    e.process(text_batch(old, NOW), NOW)
    assert hooks.uncounted == []  # Daily counted them
    # the newest (15 minutes old) is missed by Burst only; its age and its rules are told
    assert hooks.too_old == [("auth", 3, 900.0, (("Burst", 600.0),), False)]
    e.process(text_batch([f"{NOW - 3600:.0f} ERROR d"], NOW), NOW)
    assert hooks.too_old[-1] == ("auth", 1, 3600.0, (("Burst", 600.0), ("Spike", 1200.0)), False)


def test_a_backlog_batch_is_reported_as_one() -> None:
    """Whether the batch was read behind the end of its input goes with its late lines, for
    the daemon's live-late diagnostic (alerter/runtime/latelines.py)."""
    hooks = RecordingHooks()
    e = engine(hooks)
    lines = [f"{NOW - 3600:.0f} sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2"]
    e.process(batch(PARSER, "auth", NOW, text="\n".join(lines), backlog=True), NOW)
    e.process(batch(PARSER, "auth", NOW + 1, text="\n".join(lines)), NOW + 1)
    assert [(c, backlog) for _, c, _, _, backlog in hooks.too_old] == [(1, True), (1, False)]
