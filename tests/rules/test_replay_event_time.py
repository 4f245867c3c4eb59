"""`alerter replay` on event time (DESIGN "Event time"): it steps through the evaluations due
between line times (an `absent` rule fires across a gap and resolves; a resolve comes when
the window empties, not at the next line), skips and counts lines whose time steps back past
a window, reads journald exports, refuses a collector without times, prints its summary and
progress, and agrees with `alerter test` on the same input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import socket
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alerter.cli import replay as cli_replay
from alerter.cli.replay import cmd_replay
from alerter.cli.replayruns import file_runs
from alerter.cli.rules import cmd_test
from alerter.rules.templates import rfc3339

T0 = 1_800_000_000  # a multiple of every bucket width and evaluation interval below
RULES = """
groups:
  - name: app
    interval: 15s
    rules:
      - alert: Quiet
        logs: {source: app, match: heartbeat}
        aggregate: absent
        over: 5m
      - alert: Errors
        logs: {source: app, match: 'ERROR (?P<code>\\d+)'}
        aggregate: count
        by: [code]
        over: 2m
        threshold: ">= 3"
"""
# the rules reading the journald collector's entries instead of the app file's lines
JOURNAL_RULES = RULES.replace("source: app, match: 'ERROR", "source: journal, match: 'ERROR")
CONFIG = """
global: {{state_dir: {d}/state}}
collectors:
  - name: app
    type: file
    paths: [{d}/app.log]
    parser: {{type: regex, pattern: '^(?P<t>\\d+) (?P<msg>.*)$', time_field: t, time_format: epoch}}
  - name: plain
    type: file
    paths: [{d}/plain.log]
    parser: {{type: none}}
  - name: journal
    type: journald
    units: [web.service]
rule_files: [rules.yaml]
"""
# (seconds after T0, line)
LINES = [
    *[(60 * i, "heartbeat") for i in range(11)],  # every minute up to 10m
    (60, "ERROR 500 a"),
    (61, "ERROR 500 b"),
    (62, "ERROR 500 c"),
    (1800, "heartbeat"),  # after a 20-minute gap
    (1860, "heartbeat"),
]


def journal_entry(t: float, msg: str, unit: str = "web.service") -> str:
    """One entry of a `journalctl -o json` export, written at `t` (epoch seconds) by `unit`."""
    return json.dumps(
        {
            "__REALTIME_TIMESTAMP": str(int(t * 1e6)),
            "_SYSTEMD_UNIT": unit,
            "MESSAGE": msg,
            "PRIORITY": "3",
        }
    )


def setup(d: Path, lines: list[tuple[int, str]] = LINES) -> None:
    (d / "rules.yaml").write_text(RULES)
    (d / "config.yaml").write_text(CONFIG.format(d=d))
    ordered = sorted(lines, key=lambda x: x[0])
    (d / "app.log").write_text("".join(f"{T0 + t} {line}\n" for t, line in ordered))


def run(
    d: Path, *logs: str, to: str | None = None, written: float = T0 + 86400
) -> tuple[int, list[dict[str, Any]], str]:
    """Replay `logs` (COLLECTOR=PATH), each last written at `written` (replay places no line
    after its file's last write; the lines here are of T0, not of today)."""
    for log in logs:
        os.utime(log.partition("=")[2], (written, written))
    args = Namespace(config=str(d / "config.yaml"), log=list(logs), from_=None, to=to)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cmd_replay(args, out)
    return code, [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue()


def seen(transitions: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(seconds after T0, alertname, state) of each transition."""
    out = []
    for t in transitions:
        secs = round(cli_replay.parse_bound(t["time"]) - T0)
        out.append((secs, t["alertname"], t["state"]))
    return out


def test_absent_fires_across_a_gap_and_resolves_and_windows_resolve_on_time(
    tmp_path: Path,
) -> None:
    setup(tmp_path)
    code, got, err = run(tmp_path, f"app={tmp_path}/app.log")
    assert code == 0, err
    assert seen(got) == [
        (62, "Errors", "firing"),  # the third line, inline
        (195, "Errors", "resolved"),  # at the evaluation its window empties, no line there
        (900, "Quiet", "firing"),  # 5 minutes after the last heartbeat, inside the gap
        (1800, "Quiet", "resolved"),  # the heartbeat after the gap
    ]
    assert err.splitlines()[-1].startswith("replay: 16 lines, 0 skipped (late), 4 transitions")


def test_a_line_stepping_back_past_its_window_is_skipped_and_counted(tmp_path: Path) -> None:
    setup(tmp_path)
    with (tmp_path / "app.log").open("a") as f:
        # back 30 minutes (skipped, would fire Errors), back one minute (placed, and counted)
        f.write("".join(f"{T0 + 1860 - 1800} ERROR 404 x\n" for _ in range(3)))
        f.write(f"{T0 + 1860} ERROR 502 a\n{T0 + 1860} ERROR 502 b\n{T0 + 1800} ERROR 502 c\n")
    code, got, err = run(tmp_path, f"app={tmp_path}/app.log")
    assert code == 0, err
    assert ("Errors", "firing") in [(t["alertname"], t["state"]) for t in got]
    codes = [t["labels"].get("code") for t in got if t["alertname"] == "Errors"]
    assert "404" not in codes and "502" in codes
    assert "22 lines, 3 skipped (late)" in err


def test_replay_and_alerter_test_agree_on_the_same_input(tmp_path: Path) -> None:
    setup(tmp_path)
    code, got, err = run(tmp_path, f"app={tmp_path}/app.log")
    assert code == 0, err
    end = 1875
    checks = []
    for ts in range(0, end + 1, 15):
        firing: dict[str, dict[str, Any]] = {}
        for t in got:
            if cli_replay.parse_bound(t["time"]) - T0 <= ts:
                key = json.dumps(t["labels"], sort_keys=True)
                if t["state"] == "firing":
                    firing[key] = t
                else:
                    firing.pop(key, None)
        for name in ("Quiet", "Errors"):
            exp = [
                {"exp_labels": {k: v for k, v in a["labels"].items() if k != "alertname"}}
                for a in firing.values()
                if a["alertname"] == name
            ]
            checks.append({"eval_time": f"{ts}s", "alertname": name, "exp_alerts": exp})
    assert any(c["exp_alerts"] for c in checks if c["alertname"] == "Quiet")
    assert any(c["exp_alerts"] for c in checks if c["alertname"] == "Errors")
    entries = [{"at": f"{t}s", "line": line} for t, line in LINES]
    test_file = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "name": "replay's view",
                # replay's alerts have the daemon's labels: `host` here (no global.labels)
                "external_labels": {"host": socket.gethostname()},
                "input_logs": [{"source": "app", "entries": entries}],
                "alert_rule_test": checks,
            }
        ],
    }
    (tmp_path / "t.test.yaml").write_text(json.dumps(test_file))
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(tmp_path / "t.test.yaml")]), out) == 0, out.getvalue()


def test_journald_exports_are_replayed_at_their_entry_times(tmp_path: Path) -> None:
    setup(tmp_path)

    lines = [journal_entry(T0 + 60 + i, f"ERROR 503 {i}") for i in range(3)]
    # another unit's: filtered out
    lines += [journal_entry(T0 + 70 + i, "ERROR 400 x", "other.service") for i in range(3)]
    (tmp_path / "journal.json").write_text("\n".join(lines) + "\n")
    (tmp_path / "rules.yaml").write_text(JOURNAL_RULES)
    code, got, err = run(tmp_path, f"journal={tmp_path}/journal.json")
    assert code == 0, err
    assert [(t["time"], t["alertname"], t["labels"].get("code")) for t in got][:1] == [
        (rfc3339(T0 + 62), "Errors", "503")
    ]
    assert "3 lines" in err

    (tmp_path / "journal.json").write_text(json.dumps({"MESSAGE": "no time"}) + "\n")
    code, _, err = run(tmp_path, f"journal={tmp_path}/journal.json")
    assert code == 1
    assert "__REALTIME_TIMESTAMP" in err and "journalctl -o json" in err

    # present but not a number: said so (it was reported as missing)
    bad = {"__REALTIME_TIMESTAMP": "abc", "MESSAGE": "x"}
    (tmp_path / "journal.json").write_text(json.dumps(bad) + "\n")
    code, _, err = run(tmp_path, f"journal={tmp_path}/journal.json")
    assert code == 1
    assert "__REALTIME_TIMESTAMP 'abc' is not a number" in err and "has no" not in err


def test_a_collector_without_times_is_refused_with_how_to_fix_it(tmp_path: Path) -> None:
    setup(tmp_path)
    (tmp_path / "plain.log").write_text("ERROR 500 a\n")
    code, got, err = run(tmp_path, f"plain={tmp_path}/plain.log")
    assert (code, got) == (1, [])
    assert "collector plain" in err and "time_field" in err and "syslog" in err
    # a parser that could read times, but finds none in the file
    (tmp_path / "app.log").write_text("heartbeat\nERROR 500 a\n")
    code, got, err = run(tmp_path, f"app={tmp_path}/app.log")
    assert (code, got) == (1, [])
    assert "no line of the first 2" in err and "time_format" in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_goes_to_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alerter.cli.replay import replay
    from alerter.collectors.parsers import ParserConfig, make_parser
    from alerter.rules.engine import Engine
    from alerter.rules.loader import load_rule_files

    setup(tmp_path)
    monkeypatch.setattr(cli_replay, "PROGRESS_EVERY", 0.0)
    parser = make_parser(ParserConfig("regex", r"^(?P<t>\d+) ", "t", "epoch"))
    runs = file_runs("app", str(tmp_path / "app.log"), parser)
    engine = Engine(load_rule_files([("r.yaml", RULES)], default_interval=15), {})
    term = Terminal()
    summary = replay(engine, [runs], None, None, io.StringIO(), progress=term)
    assert summary.lines == 16 and summary.transitions == 4
    shown = term.getvalue()
    assert shown.count("\rreplay: at ") >= 2 and rfc3339(T0 + 1860) in shown
    assert shown.endswith("\r\x1b[K")  # the progress line is cleared at the end


SPARSE_RULES = """
groups:
  - name: a
    interval: 15s
    rules:
      - alert: Quiet
        logs: {source: app, match: heartbeat}
        aggregate: absent
        over: 5m
      - alert: QuietHost
        logs: {source: app, match: 'heartbeat (?P<host>\\w+)'}
        aggregate: absent
        by: [host]
        over: 10m
        forget_after: 1h
        for: 1m
      - alert: Errors
        logs: {source: app, match: 'ERROR (?P<code>\\d+)'}
        aggregate: count
        by: [code]
        over: 2m
        threshold: ">= 2"
        keep_firing_for: 3m
  - name: b
    interval: 40s
    rules:
      - alert: FewErrors
        logs: {source: app, match: 'ERROR'}
        aggregate: count
        over: 10m
        threshold: "< 3"
        for: 2m
      - alert: SlowSum
        logs: {source: app, match: 'ms=(?P<ms>\\d+)'}
        aggregate: sum
        field: ms
        over: 5m
        threshold: "> 100"
"""


def sparse_lines(seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    t, out = 0, []
    for _ in range(120):
        t += rng.choice((1, 5, 30, 200, 900, 4000, 20000))
        out.append(
            (
                t,
                rng.choice(
                    ("heartbeat a", "heartbeat b", "ERROR 500", "ERROR 404", "took ms=70", "x")
                ),
            )
        )
    return out


def replayed(
    d: Path, lines: list[tuple[int, str]], skip: bool, rules: str = SPARSE_RULES
) -> tuple[list[str], int]:
    from alerter.collectors.parsers import ParserConfig, make_parser
    from alerter.rules.alert import Transition
    from alerter.rules.engine import Engine
    from alerter.rules.loader import load_rule_files

    (d / "app.log").write_text("".join(f"{T0 + t} {line}\n" for t, line in lines))
    parser = make_parser(ParserConfig("regex", r"^(?P<t>\d+) ", "t", "epoch"))

    class TickCounting(Engine):
        ticks = 0

        def tick(self, now: float, timer: Callable[[], float] | None = None) -> list[Transition]:
            self.ticks += 1
            return super().tick(now, timer)

    engine = TickCounting(load_rule_files([("r.yaml", rules)], default_interval=15), {})
    out = io.StringIO()
    r = cli_replay.Replay(engine, out, cli_replay.Summary())
    r.skip = skip
    for t, _, run in file_runs("app", str(d / "app.log"), parser):
        r.feed(t, run)
    r.finish(T0 + lines[-1][0] + 7200)
    return out.getvalue().splitlines(), engine.ticks


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("few", [True, False], ids=["with-lt-rule", "without"])
def test_skipping_quiet_evaluations_prints_the_same(tmp_path: Path, seed: int, few: bool) -> None:
    rules = SPARSE_RULES
    if not few:
        start = rules.index("      - alert: FewErrors")
        rules = rules[:start] + rules[rules.index("      - alert: SlowSum") :]
    lines = sparse_lines(seed)
    every, ticks_all = replayed(tmp_path, lines, skip=False, rules=rules)
    skipped, ticks = replayed(tmp_path, lines, skip=True, rules=rules)
    assert skipped == every
    assert len(every) > 5  # the input makes alerts fire and resolve
    assert ticks < ticks_all / 3


def test_a_year_of_sparse_lines_is_not_a_year_of_evaluations(tmp_path: Path) -> None:
    lines = [(86400 * day, "heartbeat a") for day in range(365)]
    start = SPARSE_RULES.index("      - alert: FewErrors")
    rules = SPARSE_RULES[:start]
    got, ticks = replayed(tmp_path, lines, skip=True, rules=rules)
    states = [(json.loads(x)["alertname"], json.loads(x)["state"]) for x in got]
    # each silent day: Quiet fires after 5m; QuietHost after 10m + 1m pending, then it is
    # forgotten (resolved) after 1h; the next day's heartbeat resolves Quiet
    assert states[:4] == [
        ("Quiet", "firing"),
        ("QuietHost", "pending"),
        ("QuietHost", "firing"),
        ("QuietHost", "resolved"),
    ]
    assert states.count(("Quiet", "firing")) == 365
    assert ticks < 20 * 365  # not 365 days of 15 s evaluations (2.1 million)


def test_a_line_stamped_after_its_files_last_write_is_placed_at_the_line_before(
    tmp_path: Path,
) -> None:
    # one line stamped 2099 among others made every later line late (skipped): the replay
    # clock had jumped to 2099. No line can be later than the file's last write (its mtime):
    # such a line is placed at the line before, as the daemon places it at its read time
    setup(tmp_path)
    lines = [(60, "ERROR 500 a"), (61, "ERROR 500 b"), (62, "ERROR 500 c")]
    stamps = [f"{T0 + t} {line}" for t, line in lines]
    stamps.insert(1, f"{4_070_908_800} ERROR 404 future")  # 2099
    stamps += [f"{T0 + 70} ERROR 404 b", f"{T0 + 71} ERROR 404 c"]
    (tmp_path / "app.log").write_text("".join(s + "\n" for s in stamps))
    code, got, err = run(tmp_path, f"app={tmp_path}/app.log", written=T0 + 100)
    assert code == 0, err
    assert [(t["alertname"], t["labels"].get("code"), t["state"]) for t in got][:2] == [
        ("Errors", "500", "firing"),
        ("Errors", "404", "firing"),  # the future line counted at T0+60, then 70 and 71
    ]
    summary = err.splitlines()[-1]
    assert "6 lines, 0 skipped (late)" in summary
    assert "1 line stamped more than 5m after its file's last write" in summary

    # the same in a journald export: an entry of the year 2100
    (tmp_path / "rules.yaml").write_text(JOURNAL_RULES)
    export = [journal_entry(T0 + 60, "ERROR 503 a"), journal_entry(4_102_444_800, "ERROR 503 b")]
    export += [journal_entry(T0 + 61, "ERROR 503 c"), journal_entry(T0 + 62, "ERROR 503 d")]
    (tmp_path / "journal.json").write_text("\n".join(export) + "\n")
    code, got, err = run(tmp_path, f"journal={tmp_path}/journal.json", written=T0 + 100)
    assert code == 0, err
    assert [(t["time"], t["state"]) for t in got][:1] == [(rfc3339(T0 + 61), "firing")]
    assert "4 lines, 0 skipped (late)" in err and "1 line stamped more than 5m" in err


# ERROR 500 every 5 minutes for 2 hours: never 3 in the Errors rule's 2m window
EVERY_5M = [(300 * i, f"ERROR 500 {i}") for i in range(24)]


def test_a_file_last_written_before_its_lines_is_bounded_by_its_last_lines(
    tmp_path: Path,
) -> None:
    # a file whose mtime is older than its lines (touch -d, an unzip in another zone, a tar
    # from a host whose clock was behind) piled every line stamped 5m after it onto the line
    # before it, and Errors fired with all of them. Its last lines say when it was written
    setup(tmp_path, EVERY_5M)
    code, got, err = run(tmp_path, f"app={tmp_path}/app.log", written=T0 + 1800)
    assert code == 0, err
    assert [t for t in got if t["alertname"] == "Errors"] == []
    assert err.splitlines()[-1].startswith("replay: 24 lines, 0 skipped (late)")
    assert "stamped more than 5m" not in err and "older than its lines" not in err

    # the same as a journald export
    (tmp_path / "rules.yaml").write_text(JOURNAL_RULES)
    export = "".join(journal_entry(T0 + t, line) + "\n" for t, line in EVERY_5M)
    (tmp_path / "journal.json").write_text(export)
    code, got, err = run(tmp_path, f"journal={tmp_path}/journal.json", written=T0 + 1800)
    assert code == 0, err
    assert [t for t in got if t["alertname"] == "Errors"] == []
    assert "stamped more than 5m" not in err


def test_an_outlier_is_placed_at_the_line_before_unless_it_is_the_last_line(
    tmp_path: Path,
) -> None:
    # the file's last lines raise the bound above an old mtime, not past them: a line of 2099
    # in the middle is still placed at the line before, one at the end affects only itself
    setup(tmp_path, EVERY_5M)
    stamps = [f"{T0 + t} {line}" for t, line in EVERY_5M]
    stamps.insert(20, f"{4_070_908_800} ERROR 404 future")  # 2099, among the last lines
    (tmp_path / "app.log").write_text("".join(s + "\n" for s in stamps))
    code, _, err = run(tmp_path, f"app={tmp_path}/app.log", written=T0 + 1800)
    assert code == 0, err
    assert err.splitlines()[-1].startswith("replay: 25 lines, 0 skipped (late)")
    assert "1 line stamped more than 5m after its file's last write" in err

    (tmp_path / "app.log").write_text(
        "".join(s + "\n" for s in [*stamps[:20], *stamps[21:], stamps[20]])
    )
    code, _, err = run(tmp_path, f"app={tmp_path}/app.log", written=T0 + 1800)
    assert code == 0, err
    assert err.splitlines()[-1].startswith("replay: 25 lines, 0 skipped (late)")
    assert "stamped more than 5m" not in err


def test_a_compressed_file_last_written_before_its_lines_stops_being_clamped(
    tmp_path: Path,
) -> None:
    # a compressed file's last lines are not read ahead (it would be read twice): its mtime
    # bounds it, but a run of lines after it says the mtime is wrong, not the lines
    import gzip

    setup(tmp_path, EVERY_5M)
    packed = tmp_path / "app.log.1.gz"
    packed.write_bytes(gzip.compress((tmp_path / "app.log").read_bytes()))
    code, got, err = run(tmp_path, f"app={packed}", written=T0 + 1800)
    assert code == 0, err
    summary = err.splitlines()[-1]
    assert summary.startswith("replay: 24 lines, 0 skipped (late)")
    # lines 8 to 17 (10) were placed at the line before (the 7th's time), then no more
    assert "10 lines stamped more than 5m after their file's last write" in summary
    assert "the file's last write (mtime) is older than its lines" in summary
    # (the 10 and the 7th at one time fire Errors: the price of not reading the file twice)
    errors = [(t["time"], t["state"]) for t in got if t["alertname"] == "Errors"]
    assert errors[0] == (rfc3339(T0 + 2100), "firing")
