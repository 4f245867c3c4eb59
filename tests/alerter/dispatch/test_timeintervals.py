"""`time_intervals` with Alertmanager 0.25's syntax and semantics, and routes muted by them.

Examples are the ones of Alertmanager's configuration docs (prometheus.io/docs/alerting/0.25/
configuration/#time_interval) and of its timeinterval_test.go cases (day-of-month clamping,
negative days, end-exclusive times, weekday ranges, time zones).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerter.config.load import parse_config
from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems
from alerter.dispatch.timeintervals import TimeIntervals, parse_time_intervals
from alerter.errors import ConfigError
from alerter.store.db import StateStore
from alerter.testing import FixedClock, RecordingNotifier
from tests.conftest import wait_for

from .helpers import alert, make_dispatcher, route, tr

UTC = ZoneInfo("UTC")


def intervals(text: str) -> TimeIntervals:
    p = Problems(env={})
    root = MapReader(load_yaml(text, "c.yaml"), p, "config")
    out = parse_time_intervals(root.items("time_intervals"))
    p.raise_if_any()
    return out


def problems(text: str) -> list[str]:
    p = Problems(env={})
    root = MapReader(load_yaml(text, "c.yaml"), p, "config")
    parse_time_intervals(root.items("time_intervals"))
    return [str(x) for x in p.items]


def ts(text: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


OFFHOURS = """
time_intervals:
  - name: offhours
    time_intervals:
      - times: [{start_time: "00:00", end_time: "09:00"}, {start_time: "17:00", end_time: "24:00"}]
        weekdays: ['monday:friday']
      - weekdays: ['saturday', 'Sunday']
"""


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        ("2024-03-04 08:59", True),  # Monday before nine
        ("2024-03-04 09:00", False),  # end_time is exclusive
        ("2024-03-04 16:59", False),
        ("2024-03-04 17:00", True),  # start_time is inclusive
        ("2024-03-08 23:59", True),  # Friday night
        ("2024-03-09 12:00", True),  # Saturday: the second entry
        ("2024-03-10 12:00", True),  # Sunday, written with a capital
    ],
)
def test_docs_offhours(when: str, inside: bool) -> None:
    assert intervals(OFFHOURS).active("offhours", ts(when)) is inside


@pytest.mark.parametrize(
    ("days", "when", "inside"),
    [
        ("['-7:-1']", "2024-02-23 10:00", True),  # last week of a leap February: 23..29
        ("['-7:-1']", "2024-02-22 10:00", False),
        ("['-7:-1']", "2023-04-24 10:00", True),  # 30-day month: 24..30
        ("['-1']", "2023-02-28 00:00", True),
        ("['1:5']", "2024-05-05 23:59", True),
        ("['1:5']", "2024-05-06 00:00", False),
        ("['31']", "2024-04-30 12:00", False),  # day 31 is not in a 30-day month
        ("['25:31']", "2024-02-29 12:00", True),  # clamped to the month's end
    ],
)
def test_days_of_month(days: str, when: str, inside: bool) -> None:
    text = f"time_intervals: [{{name: d, time_intervals: [{{days_of_month: {days}}}]}}]"
    assert intervals(text).active("d", ts(when)) is inside


def test_months_years_and_all_fields_must_hold() -> None:
    text = """
time_intervals:
  - name: winter-2024
    time_intervals:
      - months: ['december', '1:february']
        years: ['2024:2025']
"""
    ti = intervals(text)
    assert ti.active("winter-2024", ts("2024-01-15 00:00"))
    assert ti.active("winter-2024", ts("2025-12-31 23:59"))
    assert not ti.active("winter-2024", ts("2024-03-01 00:00"))
    assert not ti.active("winter-2024", ts("2026-01-01 00:00"))


def test_location_follows_the_zone_and_its_daylight_saving() -> None:
    text = """
time_intervals:
  - name: ny-business
    time_intervals:
      - times: [{start_time: "09:00", end_time: "17:00"}]
        weekdays: ['monday:friday']
        location: America/New_York
"""
    ti = intervals(text)
    # 09:30 in New York is 14:30 UTC in winter (EST) and 13:30 UTC in summer (EDT)
    assert ti.active("ny-business", ts("2024-01-08 14:30"))
    assert not ti.active("ny-business", ts("2024-01-08 13:30"))
    assert ti.active("ny-business", ts("2024-07-08 13:30"))
    # Friday 22:00 in New York is already Saturday in UTC: the weekday is read in the zone
    assert not ti.active("ny-business", ts("2024-07-06 02:00"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{times: [{start_time: '10:00', end_time: '09:00'}]}", "must be before end_time"),
        ("{times: [{start_time: '10:00'}]}", "both start_time and end_time"),
        ("{times: [{start_time: '09:00', end_time: '26:00'}]}", "is not a time HH:MM"),
        ("{weekdays: ['friday:monday']}", "start day cannot be after end day"),
        ("{weekdays: ['funday']}", "cannot read 'funday'"),
        ("{days_of_month: ['0']}", "0 is not a valid day of the month"),
        ("{days_of_month: ['-3:5']}", "end day must be negative"),
        ("{days_of_month: ['10:5']}", "always before start day"),
        ("{months: ['13']}", "months are 1..12"),
        ("{years: ['2025:2020']}", "end year 2020 is before start year 2025"),
        ("{location: 'Mars/Olympus'}", "unknown time zone 'Mars/Olympus'"),
        ("{wekdays: ['monday']}", "did you mean 'weekdays'"),
    ],
)
def test_mistakes_are_reported_with_their_position(entry: str, message: str) -> None:
    got = problems(f"time_intervals:\n  - name: x\n    time_intervals:\n      - {entry}\n")
    assert len(got) == 1 and message in got[0] and got[0].startswith("c.yaml:4:"), got


CONFIG = """
notifiers: [{name: rec, type: console}]
route:
  receiver: rec
  routes:
    - matchers: ['team="db"']
      mute_time_intervals: [%s]
time_intervals:
  - name: weekends
    time_intervals: [{weekdays: ['saturday', 'sunday']}]
"""


def test_routes_name_defined_intervals_and_the_root_names_none(tmp_path: Path) -> None:
    cfg = parse_config(CONFIG % "weekends", str(tmp_path / "c.yaml"), {})
    assert cfg.route.routes[0].mute_time_intervals == ("weekends",)
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG % "holidays", str(tmp_path / "c.yaml"), {})
    assert "no time interval named 'holidays' (have: weekends)" in str(e.value)
    root_muted = CONFIG.replace(
        "  receiver: rec\n", "  receiver: rec\n  active_time_intervals: [weekends]\n"
    )
    with pytest.raises(ConfigError) as e:
        parse_config(root_muted % "weekends", str(tmp_path / "c.yaml"), {})
    assert "the root route cannot have active time intervals" in str(e.value)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path)
    yield s
    s.close()


MONDAY_9 = ts("2024-03-04 09:00")
ROUTE = """
receiver: rec
group_by: [alertname]
group_wait: 10s
group_interval: 1m
repeat_interval: 1h
routes:
  - matchers: ['team="db"']
    %s: [office]
"""
OFFICE = intervals(
    "time_intervals: [{name: office, time_intervals: "
    "[{times: [{start_time: '09:00', end_time: '09:05'}]}]}]"
)


@pytest.mark.parametrize("key", ["mute_time_intervals", "active_time_intervals"])
def test_a_route_stays_quiet_outside_its_time_and_tells_the_receiver_after(
    store: StateStore, key: str
) -> None:
    """Muted (or outside the active interval): nothing is sent and the notification log is left
    as it was, so the first flush once the route may speak again tells the receiver."""
    clock = FixedClock(MONDAY_9)
    rec = RecordingNotifier("rec")
    d = make_dispatcher(
        store, clock, route(ROUTE % key, intervals=["office"]), {"rec": rec}, time_intervals=OFFICE
    )
    if key == "active_time_intervals":  # start outside the active interval instead
        clock.set(MONDAY_9 - 600)
    a = alert(t=clock.now(), team="db")
    d.handle([tr(a)], clock.now())
    clock.advance(15)  # past group_wait
    d.tick(clock.now())
    d.tick(clock.now() + 61)
    assert d.pending_notifications() == 0 and rec.sent == []
    # the route may speak again: the next flush sends the firing alert
    clock.set(MONDAY_9 + 400 if key == "mute_time_intervals" else MONDAY_9 + 60)
    d.tick(clock.now())
    wait_for(lambda: len(rec.sent) == 1)
    assert [x.labels["team"] for x in rec.sent[0].alerts] == ["db"]
    d.stop()
