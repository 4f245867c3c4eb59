"""The batch the engine reads (core/events.py): text first, whole when made, read through the
LogLines protocol."""

from __future__ import annotations

from collections.abc import Sequence

from alerter.core.events import LogBatch, LogEvent, LogLines
from alerter.rules.engine import Engine
from alerter.testing import RecordingHooks
from tests.rules.helpers import engine

RULES = """
groups:
  - name: g
    rules:
      - alert: Brute
        logs: {match: 'Failed password for \\S+ from (?P<ip>\\S+)'}
        aggregate: count
        over: 5m
        by: [ip]
        threshold: ">= 3"
      - alert: Crit
        logs: {where: {priority: "2"}}
        aggregate: count
        over: 5m
        threshold: ">= 2"
      - alert: Errors
        logs: {match: 'error'}
        aggregate: count
        over: 5m
        threshold: ">= 2"
"""


def fail(ip: str) -> str:
    return f"sshd[1]: Failed password for root from {ip} port 22 ssh2"


def test_a_batch_of_lines_is_joined_once_when_its_text_is_first_asked_for() -> None:
    b = LogBatch("s", 1.0, None, ["a", "b", "c"])
    assert b.block is None  # nothing joined yet (what the bus counts)
    text = b.text
    assert text == "a\nb\nc" and b.text is text and b.block is text
    assert LogBatch("s", 1.0, None, []).text == ""


def test_a_batch_whose_line_holds_a_newline_has_no_text() -> None:
    b = LogBatch("s", 1.0, None, ["one", "two\n  continued", "three"])
    assert b.text is None and len(b) == 3 and b.lines[1] == "two\n  continued"
    assert b.tail(2) == ["two\n  continued", "three"]


def test_tail_is_the_same_from_text_and_from_lines() -> None:
    lines = [f"line {i}" for i in range(7)]
    from_text = LogBatch("s", 1.0, None, text="\n".join(lines))
    from_lines = LogBatch("s", 1.0, None, lines)
    for n in (1, 3, 7, 10):
        assert from_text.tail(n) == from_lines.tail(n) == lines[-n:]
    assert from_text.tail(3) == lines[-3:] and not from_text.split  # read from the text's end
    assert from_text.tail(0) == from_lines.tail(0) == []


def test_a_batch_of_events_is_whole_when_made_and_keeps_their_fields_when_picked() -> None:
    evs = [LogEvent(float(i), "journal", f"m{i}", {"unit": f"u{i}"}) for i in range(4)]
    b = LogBatch.of_events("journal", 9.0, evs)
    assert list(b) == evs and b.event(2) is evs[2] and b.parsed_lines() == [0, 1, 2, 3]
    assert b.lines == ["m0", "m1", "m2", "m3"] and b.text == "m0\nm1\nm2\nm3"
    picked = b.pick([1, 3])  # a throttle gate's sample: the events as they were
    assert list(picked) == [evs[1], evs[3]] and picked.parse_errors == 0


class PlainLines:
    """A LogLines that is not a LogBatch: the engine reads a batch only through the protocol."""

    def __init__(
        self, source: str, now: float, events: Sequence[LogEvent], backlog: bool = False
    ) -> None:
        self.source = source
        self.now = now
        self.backlog = backlog
        self._events = list(events)
        self.lines = [e.line for e in events]
        self.text = "\n".join(self.lines)
        self.read: set[int] = set()
        self.fieldless = False  # (its events have fields)
        self.field_names = None  # (any)

    def __len__(self) -> int:
        return len(self._events)

    def event(self, i: int) -> LogEvent:
        self.read.add(i)
        return self._events[i]

    def tail(self, n: int) -> list[str]:
        return self.lines[-n:] if n > 0 else []

    def at_times(self) -> list[tuple[float, PlainLines]]:
        return [(self.now, self)]  # (all of one time)

    def runs(self, wanted: tuple[str, ...] | None) -> list[tuple[float, PlainLines, int]]:
        return [(self.now, self, len(self))]


def transitions(e: Engine, batches: Sequence[LogLines]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for b in batches:
        out += [
            (t.alert.alertname, t.state, t.alert.labels.get("ip", "")) for t in e.process(b, 5.0)
        ]
    return out


def test_the_engine_reads_any_log_lines_as_it_reads_a_log_batch() -> None:
    evs = [
        LogEvent(5.0, "auth", fail("10.0.0.1"), {"priority": "6"}),
        LogEvent(5.0, "auth", "kernel: error on sda", {"priority": "2"}),
        LogEvent(5.0, "auth", fail("10.0.0.1"), {"priority": "6"}),
        LogEvent(5.0, "auth", "app: another error", {"priority": "2"}),
        LogEvent(5.0, "auth", fail("10.0.0.1"), {"priority": "6"}),
        LogEvent(5.0, "auth", fail("10.0.0.2"), {"priority": "6"}),
    ]
    plain = PlainLines("auth", 5.0, evs)
    got = transitions(engine(RULES), [plain])
    assert sorted(got) == sorted(transitions(engine(RULES), [LogBatch.of_events("auth", 5.0, evs)]))
    assert sorted(got) == [
        ("Brute", "firing", "10.0.0.1"),
        ("Crit", "firing", ""),
        ("Errors", "firing", ""),
    ]
    assert plain.read  # the `where` rule read fields through event(i) ...
    assert not isinstance(plain, LogBatch)  # ... of a batch the engine did not sniff


def test_the_engine_tells_late_lines_of_any_log_lines_with_their_backlog() -> None:
    hooks = RecordingHooks()
    e = engine(RULES, hooks=hooks)
    day_old = [LogEvent(5.0, "auth", fail("10.0.0.1"), {"priority": "6"})]
    now = 5.0 + 86400
    assert e.process(PlainLines("auth", 5.0, day_old, backlog=True), now) == []
    assert [(s, n, backlog) for s, n, _, _, backlog in hooks.too_old] == [("auth", 1, True)]


def test_an_empty_batch_feeds_nothing() -> None:
    e = engine(RULES)
    assert e.process(LogBatch("auth", 1.0, None, []), 1.0) == []
    assert e.process(PlainLines("auth", 1.0, []), 1.0) == []
