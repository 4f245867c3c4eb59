"""journald against a real systemd + journald (the sandbox): fields, filters, cursor resume."""

from __future__ import annotations

import dataclasses
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import alerter.collectors.journald
from alerter.collectors.journald import (
    JournaldCollector,
    JournaldConfig,
    entry_event,
    limited_event,
    parse_priority,
)
from alerter.core.events import LogBatch, LogEvent
from alerter.testing import MemoryPositions, RecordingSink, RecordingStats
from tests.conftest import Sandbox, wait_for


def test_entry_fields_are_named_as_in_design() -> None:
    e = entry_event(
        {
            "MESSAGE": "hi",
            "_SYSTEMD_UNIT": "web.service",
            "SYSLOG_IDENTIFIER": "web",
            "PRIORITY": "3",
            "_PID": "42",
            "__REALTIME_TIMESTAMP": "1700000000500000",
            "BIN": [104, 255],
        },
        "j",
    )
    assert (e.line, e.time, e.source) == ("hi", 1_700_000_000.5, "j")
    assert {k: e.fields[k] for k in ("unit", "identifier", "priority", "pid")} == {
        "unit": "web.service",
        "identifier": "web",
        "priority": "3",
        "pid": "42",
    }
    assert e.fields["_SYSTEMD_UNIT"] == "web.service" and e.fields["BIN"] == "h\ufffd"


def test_systemd_messages_about_a_unit_carry_it_as_unit() -> None:
    e = entry_event(
        {"MESSAGE": "Started x", "_SYSTEMD_UNIT": "init.scope", "UNIT": "x.service"}, "j"
    )
    assert e.fields["unit"] == "x.service"


def test_null_binary_and_multi_valued_messages() -> None:
    assert entry_event({"MESSAGE": None}, "j").line == ""
    assert entry_event({}, "j").line == ""
    # journalctl prints a binary field (NUL, control bytes, invalid UTF-8) as its byte values
    assert entry_event({"MESSAGE": [97, 0, 98, 1, 255, 99]}, "j").line == "a\x00b\x01\ufffdc"
    # a field given twice is an array of its values; the first is kept
    assert entry_event({"MESSAGE": [[104, 255], "x"]}, "j").line == "h\ufffd"
    assert entry_event({"MESSAGE": ["first", "second"]}, "j").line == "first"


def test_long_fields_are_cut_to_max_line_bytes_at_a_character_boundary() -> None:
    entry = {"MESSAGE": "\u00e9" * 5000, "BIG": "y" * 5000, "SMALL": "z" * 100}
    e, cut = limited_event(entry, "j", 1001)
    assert cut is True
    assert e.line == "\u00e9" * 500 and len(e.line.encode()) == 1000  # 2-byte characters
    assert e.fields["MESSAGE"] == e.line
    assert e.fields["BIG"] == "y" * 1001 and e.fields["SMALL"] == "z" * 100
    e, cut = limited_event({"MESSAGE": "x" * 1001}, "j", 1001)
    assert (cut, e.line) == (False, "x" * 1001)  # exactly at the limit: whole
    assert entry_event(entry, "j").line == entry["MESSAGE"]  # no limit given: whole


def test_a_read_goes_to_the_sink_as_one_log_batch_of_its_entries() -> None:
    """As the file collector: one LogBatch a read, its events built from the entries (their
    own times and fields), acknowledged with the read's last cursor."""
    positions = MemoryPositions()
    c = JournaldCollector(JournaldConfig("j"), positions, RecordingStats())
    got: list[object] = []

    class Sink:
        def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
            got.append(batch)
            if ack is not None:
                ack()
            return True

        def put_samples(self, samples: object) -> bool:
            raise AssertionError("a journal read is log lines")

    entries = [
        {"MESSAGE": f"m{i}", "__REALTIME_TIMESTAMP": str(1_700_000_000_000_000 + i), "_PID": "7"}
        for i in range(3)
    ]
    events = [entry_event(e, "j") for e in entries]
    c._cursor = "s=1;i=3"
    assert c._put(Sink(), events)
    (batch,) = got
    assert isinstance(batch, LogBatch) and batch.source == "j" and list(batch) == events
    assert [e.time for e in batch] == [1_700_000_000.0 + i / 1e6 for i in range(3)]
    assert batch.event(0).fields["pid"] == "7" and batch.parse_errors == 0
    assert positions.load_positions("j") == {"cursor": "s=1;i=3"}


def test_entries_the_journal_no_longer_has_are_counted_from_the_cursor_gap() -> None:
    stats = RecordingStats()
    c = JournaldCollector(JournaldConfig("j"), MemoryPositions(), stats)
    lines = [
        json.dumps({"MESSAGE": m, "__CURSOR": f"s=ab;i={i:x};b=1", "SYSLOG_IDENTIFIER": "t"})
        for m, i in [("m1", 0x1F), ("m2", 0x20), ("m3", 0x24), ("other", 0x2)]
    ]
    lines[3] = lines[3].replace("s=ab", "s=cd")  # another journald's numbering: no gap to tell
    c._cursor = "s=ab;i=1b;b=1"  # saved before a stop: 1c-1e were vacuumed meanwhile
    with capture_logs() as logs:
        got = c._events([x.encode() for x in lines], c._cursor)
    assert [e.line for e in got] == ["m1", "m2", "m3", "other"]
    assert stats.drops[("j", "vacuumed")] == 3 + 3
    assert [(e["event"], e["entries"]) for e in logs] == [
        ("journal_entries_lost", 3),
        ("journal_entries_lost", 3),
    ]


def test_units_match_journald_s_unit_fields_and_unit_only_from_pid_1() -> None:
    c = JournaldCollector(
        JournaldConfig("j", units=("web.service",)), MemoryPositions(), RecordingStats()
    )
    assert c._wanted({"_SYSTEMD_UNIT": "web.service", "_PID": "4"})
    assert c._wanted({"UNIT": "web.service", "_PID": "1"})  # systemd's own about the unit
    assert not c._wanted({"UNIT": "web.service", "_PID": "4242"})  # logger --journald, anyone
    assert not c._wanted({"USER_UNIT": "web.service", "_PID": "4242"})


def test_units_are_system_units_a_users_own_unit_of_that_name_does_not_pass() -> None:
    # `systemd-run --user --unit=web` as uid 1000: journald sets _SYSTEMD_USER_UNIT from the
    # cgroup, but the name is the user's choice
    c = JournaldCollector(
        JournaldConfig("j", units=("web.service",)), MemoryPositions(), RecordingStats()
    )
    user_unit = {
        "_SYSTEMD_USER_UNIT": "web.service",
        "_SYSTEMD_UNIT": "user@1000.service",
        "_UID": "1000",
        "_PID": "4242",
    }
    assert not c._wanted(user_unit)
    mine = JournaldCollector(
        JournaldConfig("j", user_units=("web.service",)), MemoryPositions(), RecordingStats()
    )
    assert mine._wanted(user_unit)
    assert not mine._wanted({"_SYSTEMD_UNIT": "web.service", "_PID": "4"})


def test_journalctl_is_asked_for_every_field_whole() -> None:
    c = JournaldCollector(JournaldConfig("j"), MemoryPositions(), RecordingStats())
    assert "--all" in c.argv()


def test_priority_names_and_numbers() -> None:
    assert parse_priority("err") == 3 and parse_priority(5) == 5 and parse_priority("7") == 7
    with pytest.raises(ValueError, match="0-7"):
        parse_priority("loud")


class Journal:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.positions = MemoryPositions()
        self.stats = RecordingStats()
        self.running: list[JournaldCollector] = []

    def start(
        self, sink: RecordingSink | None = None, **kw: Any
    ) -> tuple[JournaldCollector, RecordingSink]:
        config = JournaldConfig("j", journalctl=self.sb.command("journalctl"))
        c = JournaldCollector(dataclasses.replace(config, **kw), self.positions, self.stats)
        s = sink or RecordingSink()
        c.start(s)
        self.running.append(c)
        wait_for(lambda: self.stats.ups.get("j") is True)
        return c, s

    def stop(self, c: JournaldCollector) -> None:
        c.stop()
        self.running.remove(c)


@pytest.fixture
def journal(systemd_sandbox: Sandbox) -> Iterator[Journal]:
    j = Journal(systemd_sandbox)
    yield j
    for c in list(j.running):
        c.stop()


def events_of(sink: RecordingSink, tag: str) -> list[LogEvent]:
    with sink.lock:
        return [e for e in sink.events if isinstance(e, LogEvent) and tag in e.line]


@pytest.mark.integration
def test_journal_entries_from_logger_systemd_cat_and_a_unit(journal: Journal) -> None:
    tag = uuid.uuid4().hex[:8]
    unit = f"jt-{tag}.service"
    _, sink = journal.start(identifiers=(f"a-{tag}", f"b-{tag}"), units=(unit,), priority=6)
    sb = journal.sb
    sb.run("logger", "-t", f"a-{tag}", "-p", "user.err", f"{tag} from logger")
    sb.run("systemd-cat", "-t", f"b-{tag}", "echo", f"{tag} from systemd-cat")
    sb.run("logger", "-t", f"a-{tag}", "-p", "user.debug", f"{tag} debug is filtered")
    sb.run("logger", "-t", f"other-{tag}", f"{tag} other identifier is filtered")
    sb.write_unit(unit, f"[Service]\nType=oneshot\nExecStart=/bin/echo {tag} from the unit\n")
    sb.systemctl("start", unit)
    wait_for(
        lambda: (
            len(
                [
                    e
                    for e in events_of(sink, tag)
                    if e.fields["unit"] == unit and "from the unit" in e.line
                ]
            )
            == 1
        )
    )
    wait_for(lambda: len(events_of(sink, f"{tag} from")) == 3)
    by_line = {e.line: e for e in events_of(sink, tag)}
    logger = by_line[f"{tag} from logger"]
    assert (logger.fields["identifier"], logger.fields["priority"]) == (f"a-{tag}", "3")
    assert int(logger.fields["pid"]) > 0 and logger.fields["_TRANSPORT"] == "syslog"
    assert by_line[f"{tag} from systemd-cat"].fields["identifier"] == f"b-{tag}"
    assert by_line[f"{tag} from the unit"].fields["_SYSTEMD_UNIT"] == unit
    assert not any("filtered" in line for line in by_line)


@pytest.mark.integration
def test_cursor_resumes_after_restart_without_loss_or_repeat(journal: Journal) -> None:
    tag = uuid.uuid4().hex[:8]
    ident = (f"r-{tag}",)
    sb = journal.sb
    c, _ = journal.start(identifiers=ident)
    journal.stop(c)  # a first run that saw no entry still resumes where it started
    sb.run("logger", "-t", ident[0], f"{tag} first 0")
    c, sink = journal.start(identifiers=ident)
    for i in range(1, 3):
        sb.run("logger", "-t", ident[0], f"{tag} first {i}")
    wait_for(lambda: len(events_of(sink, tag)) == 3)
    journal.stop(c)
    for i in range(15):  # more than the 10 journalctl -f shows from a cursor by itself
        sb.run("logger", "-t", ident[0], f"{tag} while stopped {i}")
    c2, sink2 = journal.start(identifiers=ident, sink=RecordingSink(auto_ack=False))
    wait_for(lambda: len(events_of(sink2, tag)) == 15)  # with nothing newer written
    sb.run("logger", "-t", ident[0], f"{tag} after restart")
    wait_for(lambda: len(events_of(sink2, tag)) == 16)
    stopped = [f"{tag} while stopped {i}" for i in range(15)]
    assert [e.line for e in events_of(sink2, tag)] == [*stopped, f"{tag} after restart"]
    journal.stop(c2)  # nothing acknowledged: the same sixteen come again, and nothing else
    _, sink3 = journal.start(identifiers=ident)
    wait_for(lambda: len(events_of(sink3, tag)) == 16)
    sb.run("logger", "-t", ident[0], f"{tag} last")
    wait_for(lambda: len(events_of(sink3, tag)) == 17)
    assert [e.line for e in events_of(sink3, tag)] == [
        *stopped,
        f"{tag} after restart",
        f"{tag} last",
    ]


def test_a_missing_journalctl_sets_down_and_is_retried() -> None:
    stats = RecordingStats()
    c = JournaldCollector(
        JournaldConfig("j", journalctl=("/nonexistent/journalctl",), restart_backoff=0.05),
        MemoryPositions(),
        stats,
    )
    c.start(RecordingSink())
    try:
        wait_for(lambda: stats.ups.get("j") is False)
    finally:
        c.stop()


FAKE = """
import json, sys, time
cursor = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--cursor=")), None)
first = {None: 0, "c1": 1, "gone": 2}[cursor]  # "gone": vacuumed, the seek lands on c2
for i in range(first, 4):
    print(json.dumps({"MESSAGE": f"m{i}", "__CURSOR": f"c{i}", "SYSLOG_IDENTIFIER": "t"}), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(
    ("saved", "expected"),
    [(None, ["m0", "m1", "m2", "m3"]), ("c1", ["m2", "m3"]), ("gone", ["m2", "m3"])],
)
def test_resume_checks_the_cursor(tmp_path: Path, saved: str | None, expected: list[str]) -> None:
    """journalctl --cursor=C starts at C: skip C itself; if C is gone the first entry is new."""
    script = tmp_path / "journalctl.py"
    script.write_text(FAKE)
    positions = MemoryPositions()
    if saved:
        positions.save_positions("j", {"cursor": saved})
    c = JournaldCollector(
        JournaldConfig("j", start_at="beginning", journalctl=(sys.executable, str(script))),
        positions,
        RecordingStats(),
    )
    sink = RecordingSink()
    c.start(sink)
    try:
        wait_for(lambda: sink.lines[-1:] == ["m3"])
    finally:
        c.stop()
    assert sink.lines == expected
    assert positions.load_positions("j") == {"cursor": "c3"}


BACKLOG = """
import json, sys, time
old = int((time.time() - 7200) * 1e6)  # written two hours ago: journalctl catching up
for i in range(3):
    print(json.dumps({"MESSAGE": f"old{i}", "__CURSOR": f"c{i}", "__REALTIME_TIMESTAMP": str(old + i)}), flush=True)
time.sleep(0.3)
print(json.dumps({"MESSAGE": "new", "__CURSOR": "c3", "__REALTIME_TIMESTAMP": str(int(time.time() * 1e6))}), flush=True)
time.sleep(60)
"""


def test_entries_written_before_journalctl_started_come_as_a_backlog(tmp_path: Path) -> None:
    """Entries written before journalctl started are a backlog (LogBatch.backlog), however
    slowly they are read; one written after, read with nothing waiting behind it, is not."""
    script = tmp_path / "journalctl.py"
    script.write_text(BACKLOG)
    c = JournaldCollector(
        JournaldConfig("j", start_at="beginning", journalctl=(sys.executable, str(script))),
        MemoryPositions(),
        RecordingStats(),
    )
    sink = RecordingSink()
    c.start(sink)
    try:
        wait_for(lambda: sink.lines[-1:] == ["new"])
    finally:
        c.stop()
    assert sink.lines == ["old0", "old1", "old2", "new"]
    assert sink.backlogs[:-1] == [True] * (len(sink.backlogs) - 1)
    assert sink.backlogs[-1] is False


SIZES = """
import json, sys, time
def out(obj):
    sys.stdout.write(json.dumps(obj) + "\\n")
    sys.stdout.flush()
out({"MESSAGE": None, "__CURSOR": "c0"})
out({"MESSAGE": [97, 0, 98, 255], "__CURSOR": "c1"})
out({"MESSAGE": "h" * 10000, "__CURSOR": "c2"})
# over the entry cap: never held whole, skipped up to its newline (written in pieces)
sys.stdout.write('{"MESSAGE": "')
for _ in range(5):
    sys.stdout.write("s" * 300000)
    sys.stdout.flush()
    time.sleep(0.05)
sys.stdout.write('", "__CURSOR": "c3"}\\n')
out({"MESSAGE": "last", "__CURSOR": "c4"})
sys.stdout.flush()
time.sleep(60)
"""


def test_null_binary_huge_and_over_the_cap_entries_through_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerter.collectors.journald, "MAX_ENTRY_BYTES", 1 << 20)
    script = tmp_path / "journalctl.py"
    script.write_text(SIZES)
    stats = RecordingStats()
    c = JournaldCollector(
        JournaldConfig(
            "j", start_at="beginning", journalctl=(sys.executable, str(script)), max_line_bytes=4096
        ),
        MemoryPositions(),
        stats,
    )
    sink = RecordingSink()
    c.start(sink)
    try:
        wait_for(lambda: sink.lines[-1:] == ["last"])
    finally:
        c.stop()
    assert sink.lines == ["", "a\x00b\ufffd", "h" * 4096, "last"]
    # the cut MESSAGE and the skipped entry
    assert stats.drops == {("j", "too_long"): 2}


@pytest.mark.integration
def test_long_and_binary_messages_from_a_real_journal(journal: Journal) -> None:
    tag = uuid.uuid4().hex[:8]
    ident = f"s-{tag}"
    _, sink = journal.start(identifiers=(ident,), max_line_bytes=8192)
    sb = journal.sb
    # over journalctl's 4096-byte JSON threshold but within our limit: whole
    sb.run("logger", "--size", "20000", "-t", ident, f"{tag} six " + "6" * 6000)
    # 10 KB through the stdout stream and syslog: cut to 8192 bytes, counted
    sb.run("systemd-cat", "-t", ident, input=f"{tag} cat " + "c" * 10240 + "\n")
    sb.run("logger", "--size", "20000", "-t", ident, f"{tag} log " + "l" * 10240)
    # control and invalid bytes make journald store MESSAGE as binary
    sb.run("sh", "-c", f"printf '{tag} bin a\\001b\\377c\\n' | systemd-cat -t {ident}")
    # a NUL inside MESSAGE needs the native protocol (a stream splits lines at NUL)
    native = (
        "import socket, struct, sys\n"
        "m = sys.argv[1].encode() + b' nul a\\x00b'\n"
        "d = b'SYSLOG_IDENTIFIER=' + sys.argv[2].encode() + b'\\nMESSAGE\\n'"
        " + struct.pack('<Q', len(m)) + m + b'\\n'\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.sendto(d, '/run/systemd/journal/socket')\n"
    )
    sb.run(sys.executable, "-c", native, tag, ident)
    wait_for(lambda: len(events_of(sink, tag)) == 5)
    lines = {e.line.split(" ")[1]: e.line for e in events_of(sink, tag)}
    assert lines["six"] == f"{tag} six " + "6" * 6000
    assert lines["cat"] == (f"{tag} cat " + "c" * 10240)[:8192]
    assert lines["log"] == (f"{tag} log " + "l" * 10240)[:8192]
    assert lines["bin"] == f"{tag} bin a\x01b\ufffdc"
    assert lines["nul"] == f"{tag} nul a\x00b"
    assert journal.stats.drops[("j", "too_long")] == 2
