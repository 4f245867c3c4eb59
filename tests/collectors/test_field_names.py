"""The field names a parser's lines can have (`LogLines.field_names`): the engine skips a rule's
`where` on a field no line can have (builtin:sshd's journald `_UID` on an auth.log read with the
syslog parser), so the names must be every one the parser gives."""

from __future__ import annotations

from importlib import resources

import pytest

from alerter.collectors.parsers import ParserConfig, batch, make_parser
from alerter.collectors.syslog import FIELDS
from alerter.core.events import LogBatch, LogEvent
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.plans import Fieldless

SYSLOG_LINES = [
    "Nov 28 07:00:00 web sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2",
    "<38>Nov 28 07:00:00 web sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2",
    "2026-11-28T07:00:00.123+01:00 web sshd-session[77]: Invalid user a from 192.0.2.1 port 4",
    "Nov 28 07:00:00 web kernel: Out of memory: Killed process 1 (x)",
    "<38>1 2019-07-08T17:40:16.954167-04:00 h.example.com sshd 57915 ID47 "
    '[exampleSDID@32473 iut="3" eventSource="App"] Failed unknown for x from 192.0.2.1 port 5 ssh2',
    "<38>1 2019-07-08T17:40:16Z - - - - - no header fields",
    "not a syslog line at all",
]


@pytest.mark.parametrize("line", SYSLOG_LINES)
def test_the_syslog_parser_gives_only_the_fields_it_names(line: str) -> None:
    fields, _ = make_parser(ParserConfig("syslog")).parse(line)
    assert set(fields or {}) <= FIELDS


def test_each_parser_says_which_fields_its_lines_can_have() -> None:
    def names(cfg: ParserConfig) -> frozenset[str] | None:
        return batch(make_parser(cfg), "s", 0.0, ["x"]).field_names

    assert names(ParserConfig("none")) == frozenset()
    assert names(ParserConfig("syslog")) == FIELDS
    regex = ParserConfig("regex", r"(?P<ip>\S+) (?P<status>\d+)")
    assert names(regex) == frozenset({"ip", "status"})
    assert names(ParserConfig("json")) is None  # any key
    assert names(ParserConfig("logfmt")) is None
    assert LogBatch.of_events("s", 0.0, [LogEvent(0, "s", "x", {"_UID": "0"})]).field_names is None


def _sshd() -> Engine:
    text = resources.files("alerter.rules").joinpath("packs", "sshd.yaml").read_text()
    return Engine(load_rule_files([("builtin:sshd", text)], 15.0), {})


def test_an_auth_log_read_with_the_syslog_parser_counts_sshd_failures_per_key() -> None:
    e = _sshd()
    assert isinstance(e._log_rules[0].plan, Fieldless)
    lines = [
        f"Nov 28 07:00:0{i} web sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2"
        for i in range(5)
    ]
    b = batch(make_parser(ParserConfig("syslog")), "auth", 1000.0, text="\n".join(lines))
    out = e.process(b, 1000.0, at=1000.0)
    assert [(t.alert.labels["alertname"], t.alert.labels["ip"]) for t in out] == [
        ("SSHBruteForce", "203.0.113.9")
    ]
    assert b.parsed_lines() == []  # no line parsed to read a `_UID` it cannot have


def test_journal_entries_are_still_judged_by_their_uid() -> None:
    e = _sshd()
    line = "Failed password for root from 198.51.100.8 port 22 ssh2"
    for uid, fires in (("1000", False), ("0", True)):
        events = [LogEvent(1000.0, "journal", line, {"_UID": uid, "_PID": "4"})] * 5
        out = e.process(LogBatch.of_events("journal", 1000.0, events), 1000.0, at=1000.0)
        assert bool(out) is fires


def test_a_where_the_empty_value_fails_still_refuses_every_file_line() -> None:
    """`_UID="0"` (journal entries of root only): a file line has no _UID, so none counts,
    whichever plan reads the batch."""
    rules = """
groups:
  - name: g
    rules:
      - alert: RootOnly
        logs:
          match: 'Failed password for \\S+ from (?P<ip>\\S+) port'
          where: ['_UID="0"']
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 1"
"""
    e = Engine(load_rule_files([("t.yaml", rules)], 15.0), {})
    assert not isinstance(e._log_rules[0].plan, Fieldless)
    line = "Nov 28 07:00:00 web sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2"
    for cfg in (ParserConfig("syslog"), ParserConfig("none")):
        b = batch(make_parser(cfg), "auth", 1000.0, text=line)
        assert e.process(b, 1000.0, at=1000.0) == []
    journal = [LogEvent(1000.0, "auth", line, {"_UID": "0"})]
    assert e.process(LogBatch.of_events("auth", 1000.0, journal), 1000.0, at=1000.0) != []
