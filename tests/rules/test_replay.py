"""`alerter replay`: log files through the rules by the timestamps in their lines."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import socket
from argparse import Namespace
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerter.cli.replay import cmd_replay

CONFIG = """
global:
  state_dir: {d}/state
  labels: {{env: test}}
collectors:
  - name: auth
    type: file
    paths: [{d}/auth.log]
    parser: {{type: syslog}}
  - name: web
    type: file
    paths: [{d}/access.log]
    parser:
      type: regex
      pattern: '^(?P<ip>\\S+) \\S+ \\S+ \\[(?P<time>[^\\]]+)\\] "[^"]*" (?P<status>\\d{{3}}) '
      time_field: time
      time_format: "%d/%b/%Y:%H:%M:%S %z"
  - name: auth2
    type: file
    paths: [{d}/json.log]
    parser: {{type: json, time_field: ts, time_format: epoch}}
rule_files: ["ssh.yaml", "builtin:nginx"]
"""
# (the sshd pack's rule as it was: the pack itself is tested on its own)
SSH_RULES = """
groups:
  - name: sshd
    rules:
      - alert: SSHBruteForce
        logs: {match: 'Failed password for (?P<user>\\S*) from (?P<ip>[0-9.]+) port'}
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 5"
        labels: {severity: warning}
        annotations:
          summary: "{{ labels.ip }} failed {{ value }} SSH logins in 10m"
"""


def write_logs(d: Path) -> None:
    with open(d / "access.log", "w") as f:
        for i in range(150):
            status = 502 if i % 5 == 0 else 200
            f.write(
                f"1.1.1.1 - - [28/Nov/2026:06:{i // 60:02d}:{i % 60:02d} +0000] "
                f'"GET / HTTP/1.1" {status} 10 "-" "c"\n'
            )
    base = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    with open(d / "json.log", "w") as f:
        for i in range(6):
            line = f"Failed password for root from 9.9.9.9 port 22 ssh2 #{i}"
            f.write(json.dumps({"ts": base + 6 * 3600 + 30 + i, "msg": line}) + "\n")
    (d / "auth.log").write_text("")
    (d / "ssh.yaml").write_text(SSH_RULES)


def replay(d: Path, *extra: str) -> list[dict[str, Any]]:
    (d / "config.yaml").write_text(CONFIG.format(d=d))
    logs = [a for a in extra if "=" in a]
    args = Namespace(config=str(d / "config.yaml"), log=logs, from_=None, to=None)
    for a in extra:
        if a.startswith("from:"):
            args.from_ = a.removeprefix("from:")
        if a.startswith("to:"):
            args.to = a.removeprefix("to:")
    out = io.StringIO()
    assert cmd_replay(args, out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_replay_prints_transitions_in_log_time_across_files(tmp_path: Path) -> None:
    write_logs(tmp_path)
    got = [(t["time"], t["alertname"], t["state"]) for t in replay(tmp_path)]
    assert got == [
        ("2026-11-28T06:00:19.000Z", "NginxHigh5xxRatio", "pending"),
        ("2026-11-28T06:00:34.000Z", "SSHBruteForce", "firing"),
        ("2026-11-28T06:02:19.000Z", "NginxHigh5xxRatio", "firing"),
    ]
    first = replay(tmp_path)[1]
    assert first["labels"] == {  # the daemon's labels: global.labels and `host`
        "alertname": "SSHBruteForce",
        "ip": "9.9.9.9",
        "severity": "warning",
        "env": "test",
        "host": socket.gethostname(),
    }
    assert first["value"] == 5
    assert first["annotations"]["summary"] == "9.9.9.9 failed 5 SSH logins in 10m"


def test_replay_with_chosen_files_and_a_time_range(tmp_path: Path) -> None:
    write_logs(tmp_path)
    got = replay(
        tmp_path,
        f"web={tmp_path}/access.log",
        "from:2026-11-28T06:01:00Z",
        "to:2026-11-28T06:02:00Z",
    )
    assert [(t["time"], t["state"]) for t in got] == [("2026-11-28T06:01:19.000Z", "pending")]


def test_replay_rejects_unknown_collectors(tmp_path: Path) -> None:
    write_logs(tmp_path)
    (tmp_path / "config.yaml").write_text(CONFIG.format(d=tmp_path))
    args = Namespace(config=str(tmp_path / "config.yaml"), log=["nope=x"], from_=None, to=None)
    assert cmd_replay(args, io.StringIO()) == 2


@pytest.mark.parametrize(
    ("logs", "from_", "to", "said"),
    [
        (["web={d}/access.log"], "nan", None, "invalid time 'nan': epoch seconds from 0"),
        (["web={d}/access.log"], "inf", None, "invalid time 'inf'"),
        (["web={d}/access.log"], "1h", None, "(a duration such as 1h is --from's, before a --to)"),
        (["web={d}/access.log"], "2026-11-28T07:00:00Z", "2026-11-28T06:00:00Z", "is not before"),
        (["web={d}/access.log", "web={d}/access.log"], None, None, "given twice"),
    ],
)
def test_replay_refuses_bounds_and_logs_that_would_replay_nothing_or_twice(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    logs: list[str],
    from_: str | None,
    to: str | None,
    said: str,
) -> None:
    write_logs(tmp_path)
    (tmp_path / "config.yaml").write_text(CONFIG.format(d=tmp_path))
    args = Namespace(
        config=str(tmp_path / "config.yaml"),
        log=[x.format(d=tmp_path) for x in logs],
        from_=from_,
        to=to,
    )
    assert cmd_replay(args, io.StringIO()) == 2
    assert said in capsys.readouterr().err


def test_replay_runs_take_line_times_across_blocks(tmp_path: Path, monkeypatch: Any) -> None:
    from alerter.cli import replayfiles
    from alerter.cli.replayruns import file_runs
    from alerter.collectors.parsers import ParserConfig, make_parser

    lines = ["100 a", "100 b", "junk", "101 c", "", "101 d", "102 e\r", "103 f"]
    (tmp_path / "x.log").write_text("\n".join(lines))  # no newline after the last line
    for block in (3, 7, 1 << 20):
        monkeypatch.setattr(replayfiles, "_BLOCK", block)
        parser = make_parser(ParserConfig("regex", r"^(?P<t>\d+) (?P<w>\w)", "t", "epoch"))
        got = [
            (t, [(e.time, e.line, dict(e.fields)) for e in run])
            for t, _, run in file_runs("x", str(tmp_path / "x.log"), parser)
        ]
        # runs may split at block ends; joined by time they are the lines in order
        by_time: dict[float, list[tuple[float, str, dict[str, str]]]] = {}
        for t, evs in got:
            by_time.setdefault(t, []).extend(evs)
        assert by_time == {
            100.0: [
                (100.0, "100 a", {"t": "100", "w": "a"}),
                (100.0, "100 b", {"t": "100", "w": "b"}),
                (100.0, "junk", {}),
            ],  # no time: the previous line's
            101.0: [
                (101.0, "101 c", {"t": "101", "w": "c"}),
                (101.0, "", {}),
                (101.0, "101 d", {"t": "101", "w": "d"}),
            ],
            102.0: [(102.0, "102 e", {"t": "102", "w": "e"})],  # \r\n read as a newline
            103.0: [(103.0, "103 f", {"t": "103", "w": "f"})],
        }
        assert [t for t, _ in got] == sorted(t for t, _ in got)


def test_syslog_replay_runs_are_the_lines_in_order_at_their_times(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The syslog parser's runs are read in each block's text (spans): across any block size,
    joined by time they are the lines in order, a line without a time at the one before it."""
    import random

    from alerter.cli import replayfiles
    from alerter.cli.replayruns import file_runs
    from alerter.collectors.parsers import ParserConfig, make_parser

    rnd = random.Random(4)
    lines: list[str] = []
    for sec in range(20):
        for _ in range(rnd.choice((1, 3, 40))):
            host = rnd.choice(("web1", "web2"))
            lines.append(f"Dec  4 07:00:{sec:02d} {host} sshd[{sec}]: msg {len(lines)}")
            if rnd.random() < 0.1:
                lines.append(rnd.choice(("junk", "", "Dec  4 07:00")))
    (tmp_path / "auth.log").write_text("\n".join(lines) + "\n")
    reference = make_parser(ParserConfig("syslog"))
    want: list[tuple[float, str]] = []
    last = None
    for line in lines:
        t = reference.times([line])[0]
        last = t if t is not None else last
        want.append((last if last is not None else 0.0, line))
    assert want[0][0] > 0
    for block in (5, 97, 1000, 1 << 20):
        monkeypatch.setattr(replayfiles, "_BLOCK", block)
        parser = make_parser(ParserConfig("syslog"))
        got = [
            (t, e.line)
            for t, _, run in file_runs("auth", str(tmp_path / "auth.log"), parser)
            for e in run
        ]
        assert got == want, block


def test_ctrl_c_prints_what_was_replayed_and_exits_130(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """Interrupted (SIGINT: KeyboardInterrupt, here from the log's reader after its first
    runs), replay prints the transitions so far and their summary, and says the rest was not
    read."""
    import alerter.cli.replay as cli_replay
    from alerter.cli.replayruns import file_runs

    write_logs(tmp_path)
    real = file_runs

    def interrupted(*a: Any, **kw: Any) -> Any:
        for i, run in enumerate(real(*a, **kw)):
            if i == 40:
                raise KeyboardInterrupt
            yield run

    monkeypatch.setattr(cli_replay, "file_runs", interrupted)
    (tmp_path / "config.yaml").write_text(CONFIG.format(d=tmp_path))
    args = Namespace(
        config=str(tmp_path / "config.yaml"),
        log=[f"web={tmp_path}/access.log"],
        from_=None,
        to=None,
    )
    out = io.StringIO()
    assert cmd_replay(args, out) == 130
    assert [json.loads(line)["state"] for line in out.getvalue().splitlines()] == ["pending"]
    err = capsys.readouterr().err
    assert err.startswith("replay: 40 lines, 0 skipped (late), 1 transition, ")
    assert err.rstrip().endswith("; interrupted, the rest not read")


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_replay_reads_a_rotated_compressed_log_as_the_plain_one(
    tmp_path: Path, compress: Callable[[bytes], bytes]
) -> None:
    write_logs(tmp_path)
    plain = replay(tmp_path, f"web={tmp_path}/access.log")
    packed = tmp_path / "access.log.2.x"  # (told by its first bytes, not its name)
    packed.write_bytes(compress((tmp_path / "access.log").read_bytes()))
    assert plain and replay(tmp_path, f"web={packed}") == plain


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"truncated", "cannot read it: Compressed file ended"),
        (b"\x28\xb5\x2f\xfd" + bytes(20), "zstd-compressed, which replay does not read"),
    ],
    ids=["truncated gzip", "zstd"],
)
def test_a_compressed_log_replay_cannot_read_is_an_error_that_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, says: str
) -> None:
    write_logs(tmp_path)
    (tmp_path / "config.yaml").write_text(CONFIG.format(d=tmp_path))
    bad = tmp_path / "access.log.1"
    if content == b"truncated":  # (logrotate still compressing it)
        packed = gzip.compress((tmp_path / "access.log").read_bytes())
        content = packed[: len(packed) // 2]
    bad.write_bytes(content)
    args = Namespace(config=str(tmp_path / "config.yaml"), log=[f"web={bad}"], from_=None, to=None)
    assert cmd_replay(args, io.StringIO()) == 1
    assert capsys.readouterr().err.startswith(f"{bad}: {says}")


def test_replay_splits_lines_where_the_daemon_does(tmp_path: Path) -> None:
    # a \r inside a line (a progress bar) starts no line of its own in the daemon; a CRLF
    # file's lines end before their \r. Replay read files with universal newlines, where a
    # rule anchored at a line's start matched the text after a \r.
    write_logs(tmp_path)
    attempt = "Failed password for root from 9.9.9.9 port 22 ssh2"

    def fired(old: str, new: str, lines: str) -> list[str]:
        (tmp_path / "ssh.yaml").write_text(SSH_RULES.replace(old, new, 1))
        (tmp_path / "json.log").write_text("")
        with open(tmp_path / "auth.log", "w", newline="") as f:
            f.write(lines)
        got = replay(tmp_path, f"auth={tmp_path}/auth.log")
        return [t["state"] for t in got if t["alertname"] == "SSHBruteForce"]

    progress = "".join(f"Nov 28 06:00:0{i} h app: 10%\r{attempt}\n" for i in range(6))
    assert fired("Failed password", "^Failed password", progress) == []
    crlf = "".join(f"Nov 28 06:00:0{i} h sshd[1]: {attempt}\r\n" for i in range(6))
    assert fired(" port'", " port 22 ssh2$'", crlf) == ["firing"]  # (ends the line)


def test_a_replay_of_nothing_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_logs(tmp_path)
    (tmp_path / "empty.log").write_text("")
    assert replay(tmp_path, f"auth={tmp_path}/empty.log") == []
    summary = capsys.readouterr().err.splitlines()[-1]
    assert (
        summary.startswith("replay: 0 lines") and "no line replayed: the logs are empty" in summary
    )


def test_year_less_stamps_are_placed_before_the_files_last_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an auth.log of Dec 4-8 a year ago, replayed on a Dec 6: placed before today, Dec 4-5
    # landed in this year and Dec 6-8 in the last (18 of 30 lines skipped as late); placed
    # before the file's last write, they are in order, in their year
    write_logs(tmp_path)
    year = datetime.now().year - 1
    days = [datetime(year, 12, d, 10, 0, i) for d in (4, 5, 6, 7, 8) for i in range(6)]
    with open(tmp_path / "auth.log", "w") as f:
        for t in days:
            f.write(
                f"{t.strftime('%b %e %H:%M:%S')} h sshd[1]: Failed password for root from "
                f"9.9.9.{t.day} port 22 ssh2\n"
            )
    written = datetime(year, 12, 8, 23, 59).timestamp()
    os.utime(tmp_path / "auth.log", (written, written))
    got = replay(tmp_path, f"auth={tmp_path}/auth.log")
    fired = [(t["time"][:10], t["labels"]["ip"]) for t in got if t["state"] == "firing"]
    assert fired == [(f"{year}-12-0{d}", f"9.9.9.{d}") for d in (4, 5, 6, 7, 8)]
    assert "30 lines, 0 skipped (late)" in capsys.readouterr().err


def test_a_log_across_a_dst_fall_back_is_replayed_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], local_tz: Callable[[str], None]
) -> None:
    # New York, 2025-11-02: 01:00-01:59 local twice. Syslog's local stamps of the second pass
    # (01:05 after 01:55) were read in the first pass, 50 minutes back: skipped as late
    local_tz("America/New_York")
    write_logs(tmp_path)
    stamps = ["01:45:00", "01:50:00", "01:55:00"]  # EDT (05:45Z...)
    stamps += [f"01:05:{s}0" for s in range(5)]  # EST (06:05Z...)
    stamps += ["01:59:59", "02:10:00"]  # EST (06:59:59Z, 07:10Z)
    with open(tmp_path / "auth.log", "w") as f:
        for s in stamps:
            f.write(f"Nov  2 {s} h sshd[1]: Failed password for root from 9.9.9.9 port 22 ssh2\n")
    written = datetime(2025, 11, 2, 12, tzinfo=UTC).timestamp()
    os.utime(tmp_path / "auth.log", (written, written))
    got = replay(tmp_path, f"auth={tmp_path}/auth.log")
    assert "10 lines, 0 skipped (late)" in capsys.readouterr().err
    # five within 10m: the EST ones (the EDT ones are an hour before)
    fired = [t["time"] for t in got if t["state"] == "firing"]
    assert fired == ["2025-11-02T06:05:40.000Z"]


def test_a_multilog_file_is_replayed_at_its_tai64n_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # daemontools' multilog lines (`@TAI64N prog: ...`) had no time: replay refused the file
    write_logs(tmp_path)
    start = datetime(2021, 1, 13, 1, 6, 40, tzinfo=UTC).timestamp()
    with open(tmp_path / "auth.log", "w") as f:
        for i in range(5):
            label = f"@{(1 << 62) + 10 + int(start) + 30 * i:016x}{500_000_000:08x}"
            f.write(f"{label} sshd[1]: Failed password for root from 9.9.9.9 port 22 ssh2\n")
    os.utime(tmp_path / "auth.log", (start + 3600, start + 3600))
    got = replay(tmp_path, f"auth={tmp_path}/auth.log")
    assert [(t["time"], t["state"]) for t in got if t["alertname"] == "SSHBruteForce"][:1] == [
        ("2021-01-13T01:08:40.500Z", "firing")
    ]
    assert "5 lines, 0 skipped (late)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("from_", "to", "said"),
    [
        ("yesterday", None, "--from: invalid time 'yesterday': use RFC 3339"),
        (None, "noon", "--to: invalid time 'noon': use RFC 3339"),
        ("5 m", "2026-11-28T07:00:00Z", "--from: invalid duration '5 m' (use e.g. 500ms"),
        ("2026-11-28T08:00:00Z", "2026-11-28T07:00:00Z", "--from: 2026-11-28T08:00:00Z is not"),
    ],
)
def test_a_bad_bound_is_told_with_its_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], from_: str | None, to: str | None, said: str
) -> None:
    write_logs(tmp_path)
    (tmp_path / "config.yaml").write_text(CONFIG.format(d=tmp_path))
    args = Namespace(
        config=str(tmp_path / "config.yaml"), log=[f"web={tmp_path}/access.log"], from_=from_, to=to
    )
    assert cmd_replay(args, io.StringIO()) == 2
    assert capsys.readouterr().err.startswith(said)


def test_a_config_whose_logs_are_not_there_is_told_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no --log, and no file of the file collectors' paths: "0 lines replayed, the logs are
    # empty" said nothing of what to do
    (tmp_path / "ssh.yaml").write_text(SSH_RULES)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG.format(d=tmp_path))
    args = Namespace(config=str(cfg), log=[], from_=None, to=None)
    assert cmd_replay(args, io.StringIO()) == 2
    assert capsys.readouterr().err == (
        f"{cfg}: no log to replay: its file collectors' paths match no file; give --log"
        " COLLECTOR=PATH (for a journald collector, PATH is an export: journalctl -o json > PATH)\n"
    )
    cfg.write_text(
        f"global: {{state_dir: {tmp_path}/s}}\ncollectors: [{{name: j, type: journald}}]\n"
    )
    assert cmd_replay(args, io.StringIO()) == 2
    assert "no log to replay: no file collector; give --log" in capsys.readouterr().err


def test_a_log_replay_may_not_read_is_told_without_python_s_errno(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alerter.cli import replayfiles

    def refused(path: str) -> Any:
        raise PermissionError(13, "Permission denied", path)  # (as open() raises it, not root)

    monkeypatch.setattr(replayfiles, "open_log", refused)
    write_logs(tmp_path)
    (tmp_path / "config.yaml").write_text(CONFIG.format(d=tmp_path))
    log = tmp_path / "access.log"
    args = Namespace(config=str(tmp_path / "config.yaml"), log=[f"web={log}"], from_=None, to=None)
    assert cmd_replay(args, io.StringIO()) == 1
    assert capsys.readouterr().err == f"{log}: cannot read it: Permission denied\n"


def test_a_log_replay_cannot_read_fails_with_1_as_check_and_test_fail_on_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2 is for a command line the command cannot take; a file that is not there (or is a
    # directory) is a failure, 1, for `alerter check -c` and `alerter test` as for replay
    from alerter.cli.main import main

    write_logs(tmp_path)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG.format(d=tmp_path))
    for path, said in [(tmp_path / "gone.log", "no such file"), (tmp_path, "a directory")]:
        assert main(["replay", "-c", str(cfg), "--log", f"web={path}"]) == 1
        assert capsys.readouterr().err.startswith(f"--log web={path}: {said}")
        assert main(["check", "-c", str(path)]) == 1
        assert main(["test", str(path)]) == 1
    assert main(["replay", "-c", str(tmp_path / "gone.log")]) == 1
