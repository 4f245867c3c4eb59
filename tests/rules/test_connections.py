"""`weight` (a line standing for N events) and `connection` (a count rule's per-connection
address state): rules/connections.py and their use by count rules."""

from __future__ import annotations

import json

import pytest

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.connections import Connections, weight_of
from alerter.rules.loader import RuleFileError, load_rule_files
from alerter.rules.plans import plan_for
from tests.rules.helpers import engine, log


@pytest.mark.parametrize(
    ("text", "n"),
    [("3", 3), ("1", 1), ("1000000", 1_000_000), ("", 1), ("0", 1), ("-2", 1), ("2.5", 1)],
)
def test_weight_of_a_whole_number_in_range_else_one(text: str, n: int) -> None:
    assert weight_of(text) == n


def test_weight_of_refuses_huge_and_non_ascii_numbers() -> None:
    assert weight_of("10000000") == 1
    assert weight_of("٣") == 1  # an Arabic-Indic digit: isdigit() but not ASCII


def test_a_line_without_address_counts_for_the_address_told_before() -> None:
    c = Connections()
    assert c.see("7", ("192.0.2.1",), 0, "Connection from 192.0.2.1", 1.0) == []
    assert c.see("7", None, 1, "Too many", 2.0) == [(("192.0.2.1",), 1, ("Too many",))]


def test_a_line_without_address_waits_for_the_address_told_after() -> None:
    c = Connections()
    assert c.see("7", None, 1, "Too many", 1.0) == []
    assert c.see("7", None, 2, "again", 2.0) == []
    assert c.see("7", ("192.0.2.1",), 0, "closed by 192.0.2.1", 3.0) == [
        (("192.0.2.1",), 3, ("Too many", "again"))
    ]
    # released once
    assert c.see("7", ("192.0.2.1",), 0, "closed by 192.0.2.1", 3.0) == []


def test_another_connection_or_no_connection_id_gets_nothing() -> None:
    c = Connections()
    c.see("7", None, 1, "Too many", 1.0)
    assert c.see("8", ("192.0.2.9",), 0, "closed by 192.0.2.9", 2.0) == []
    assert c.see("", None, 1, "no id", 2.0) == []
    assert c.see("", ("192.0.2.9",), 1, "no id", 2.0) == [(("192.0.2.9",), 1, ("no id",))]


def test_state_is_bounded_and_forgotten_after_ttl() -> None:
    c = Connections(limit=2, ttl=10.0)
    for pid in ("1", "2", "3"):
        c.see(pid, ("192.0.2.1",), 0, "x", 1.0)
    assert len(c) == 2
    assert c.see("1", None, 1, "y", 2.0) == []  # dropped: the oldest
    assert c.see("3", None, 1, "y", 2.0) == [(("192.0.2.1",), 1, ("y",))]
    assert c.see("3", None, 1, "y", 20.0) == []  # not seen for over ttl: a reused pid


def test_a_line_naming_another_address_is_another_connection() -> None:
    # sshd's pid reused by another peer: the first connection's address is not the second's
    c = Connections()
    assert c.see("7", ("198.51.100.20",), 0, "Connection from 198.51.100.20", 1.0) == []
    assert c.see("7", ("192.0.2.10",), 0, "Connection from 192.0.2.10", 2.0) == []
    assert c.see("7", None, 1, "Too many", 3.0) == [(("192.0.2.10",), 1, ("Too many",))]


def test_an_ending_line_resolves_its_connection_then_drops_it() -> None:
    c = Connections()
    assert c.see("7", None, 1, "Too many", 1.0) == []
    assert c.see("7", ("198.51.100.20",), 0, "closed by 198.51.100.20", 2.0, ends=True) == [
        (("198.51.100.20",), 1, ("Too many",))
    ]
    assert len(c) == 0
    # the pid's next line is another connection's: it waits for its own address
    assert c.see("7", None, 1, "Too many", 3.0) == []
    assert c.see("7", ("192.0.2.10",), 0, "closed by 192.0.2.10", 4.0, ends=True) == [
        (("192.0.2.10",), 1, ("Too many",))
    ]


WEIGHTED = """
groups:
  - name: g
    rules:
      - alert: Many
        logs:
          match: '(?:repeated (?P<n>\\d+) times: \\[ )?fail from (?P<ip>\\S+?)\\]?$'
        weight: n
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 5"
        annotations: {summary: "{{ value }}"}
"""


def test_a_weighted_rule_counts_the_number_in_the_line() -> None:
    # counted line by line, not by a plan that counts matches in bulk
    rule = load_rule_files([("t", WEIGHTED)], 15).rules()[0]
    assert plan_for(rule).label in ("RegexScan", "LiteralScan", "EveryLine")
    e = engine(WEIGHTED)
    assert log(e, 0, "fail from 192.0.2.1") == []
    ts = log(e, 1, "repeated 4 times: [ fail from 192.0.2.1]")
    assert [(t.alert.labels["ip"], t.alert.value) for t in ts] == [("192.0.2.1", 5)]


def test_weighted_lines_count_the_same_in_one_batch() -> None:
    e = engine(WEIGHTED)
    lines = ["fail from 192.0.2.1", "repeated 3 times: [ fail from 192.0.2.1]", "x"]
    batch = LogBatch.of_events("app", 0, [LogEvent(0, "app", x, {}) for x in lines])
    assert e.process(batch, 0) == []
    ((key, (buckets, _examples)),) = e.snapshot()["rules"]["g/0/Many"]["window"]["keys"]
    assert key == ["192.0.2.1"]
    assert sum(buckets[1::2]) == 4


CONNECTED = """
groups:
  - name: g
    rules:
      - alert: Cut
        logs:
          match: 'sshd\\[(?P<pid>\\d+)\\]: (?:too many(?: from (?P<ip>\\S+))?|hello from (?P<told>\\S+))$'
        aggregate: count
        connection: {id: pid, tells: [told]}
        over: 10m
        by: [ip]
        threshold: ">= 2"
"""


def test_a_connection_rule_counts_lines_for_their_connections_address() -> None:
    e = engine(CONNECTED)
    log(e, 0, "sshd[5]: too many")
    log(e, 1, "sshd[6]: hello from 192.0.2.7")
    assert e.snapshot()["rules"]["g/0/Cut"]["window"]["keys"] == []
    log(e, 2, "sshd[5]: hello from 192.0.2.7")
    ts = log(e, 3, "sshd[6]: too many from 192.0.2.7")
    assert [(t.alert.labels["ip"], t.alert.value) for t in ts] == [("192.0.2.7", 2)]


def test_a_connection_rule_forgets_a_connection_after_its_ending_line() -> None:
    e = engine(
        CONNECTED.replace("tells: [told]", "tells: [told, bye], ends: [bye]").replace(
            "|hello from (?P<told>\\S+))$", "|hello from (?P<told>\\S+)|closed by (?P<bye>\\S+))$"
        )
    )
    log(e, 0, "sshd[5]: too many")
    log(e, 1, "sshd[5]: closed by 192.0.2.7")  # resolves the line before it, then ends
    log(e, 2, "sshd[5]: too many")  # the pid reused: not 192.0.2.7's
    log(e, 3, "sshd[5]: hello from 192.0.2.8")
    keys = e.snapshot()["rules"]["g/0/Cut"]["window"]["keys"]
    # (key, [[bucket, events]], examples): one line each
    assert sorted((k[0], k[1][0]) for k in keys) == [
        (["192.0.2.7"], [0, 1]),
        (["192.0.2.8"], [0, 1]),
    ]


def test_a_reload_keeps_what_a_connection_told_for_its_later_lines() -> None:
    """A rule unchanged by a reload keeps its tables as they are (Engine.take_over), its
    connections' state with them: a line after the reload counts for the address its
    connection told before it. A restart reads the snapshot, which holds no connection."""
    old = engine(CONNECTED)
    log(old, 0, "sshd[5]: hello from 192.0.2.7")
    log(old, 1, "sshd[5]: too many")
    snap = json.loads(json.dumps(old.snapshot()))
    restarted = engine(CONNECTED)
    restarted.restore(snap, 2)
    assert log(restarted, 2, "sshd[5]: too many") == []  # waits for its connection's address
    reloaded = engine(CONNECTED)
    reloaded.take_over(old, 2)
    ts = log(reloaded, 2, "sshd[5]: too many")
    assert [(t.alert.labels["ip"], t.alert.value) for t in ts] == [("192.0.2.7", 2)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("weight: n", "weight: only used by aggregate count"),
        ("connection: {id: pid, tells: [nope]}", "tells: 'nope' is not a group of match"),
        ("connection: {id: pid, tells: [ip], ends: [n]}", "ends: 'n' is not one of tells"),
    ],
)
def test_weight_and_connection_are_checked_at_load(extra: str, message: str) -> None:
    agg = "sum\n        field: n" if extra.startswith("weight") else "count"
    text = f"""
groups:
  - name: g
    rules:
      - alert: A
        logs:
          match: 'x (?P<n>\\d+) (?P<pid>\\d+) (?P<ip>\\S+)'
        aggregate: {agg}
        {extra}
        over: 10m
        by: [ip]
        threshold: "> 1"
"""
    with pytest.raises(RuleFileError) as err:
        load_rule_files([("t.yaml", text)], 15)
    assert message in str(err.value)


def test_connection_needs_one_by_label() -> None:
    text = """
groups:
  - name: g
    rules:
      - alert: A
        logs:
          match: 'x (?P<pid>\\d+)'
        aggregate: count
        connection: {id: pid}
        over: 10m
        threshold: "> 1"
"""
    with pytest.raises(RuleFileError) as err:
        load_rule_files([("t.yaml", text)], 15)
    assert "connection: needs one `by` label" in str(err.value)
