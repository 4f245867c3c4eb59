"""The command collector with real commands: exit code, duration and prometheus output, never
through a shell; a timeout, a missing program, output past the cap or unparsable output are
samples (up 0), not exceptions, and an escaped child does not hold it past its timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

import pytest
import structlog.testing

from alerter.collectors.command import CommandCollector, CommandConfig
from alerter.core.events import Sample
from alerter.testing import RecordingStats
from tests.collectors.conftest import NOW, value


@pytest.mark.integration
def test_command_exit_code_duration_and_prometheus_output() -> None:
    script = "print('# TYPE backups gauge'); print('backups_ok 1'); raise SystemExit(3)"
    c = CommandCollector(
        CommandConfig("backup", (sys.executable, "-c", script), output="prometheus"),
        RecordingStats(),
    )
    samples = c.collect(NOW)
    assert value(samples, "command_exit_code", job="backup") == 3.0
    assert value(samples, "backups_ok", job="backup") == 1.0
    assert value(samples, "up") == 1.0 and value(samples, "command_timed_out") == 0.0


@pytest.mark.integration
def test_command_arguments_never_reach_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    c = CommandCollector(CommandConfig("c", ("/bin/echo", f"; touch {marker}")), RecordingStats())
    assert value(c.collect(NOW), "command_exit_code") == 0.0
    assert not marker.exists()


def test_command_timeout_and_missing_program_are_samples_not_exceptions() -> None:
    stats = RecordingStats()
    slow = CommandCollector(CommandConfig("c", ("/bin/sleep", "30"), timeout=0.2), stats).collect(
        NOW
    )
    assert value(slow, "command_timed_out") == 1.0 and value(slow, "up") == 0.0
    assert value(slow, "command_exit_code") == -1.0 and stats.ups["c"] is False
    missing = CommandCollector(CommandConfig("c", ("/nonexistent/x",)), stats).collect(NOW)
    assert value(missing, "up") == 0.0 and value(missing, "command_exit_code") == -1.0


@pytest.mark.integration
def test_a_command_whose_child_left_its_group_ends_at_its_timeout(tmp_path: Path) -> None:
    # `setsid sleep 60 &` holds the output pipe after the command is killed: reading it to its
    # end held the collector (and a scheduler worker) for the whole minute
    pidfile = tmp_path / "escaped.pid"
    script = f"setsid sleep 60 & echo $! > {pidfile}; sleep 60"
    c = CommandCollector(
        CommandConfig("c", ("/bin/sh", "-c", script), timeout=0.5), RecordingStats()
    )
    done: list[list[Sample]] = []
    t = threading.Thread(target=lambda: done.append(c.collect(NOW)), daemon=True)
    t.start()
    try:
        t.join(20)
        assert done, "collect() still waiting on the escaped child's pipe"
        assert [s.value for s in done[0] if s.name == "command_timed_out"] == [1.0]
    finally:
        with contextlib.suppress(ValueError, OSError):  # the child we made escape: ours to end
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.integration
def test_command_output_past_the_cap_is_not_read_and_the_command_is_killed(
    tmp_path: Path,
) -> None:
    """A command that spews (64 MiB here, GBs in the field) is read to MAX_OUTPUT + 1 bytes
    at most, then killed: not read whole (nor until its timeout) before the cap applies."""
    pidfile = tmp_path / "spew.pid"
    script = (
        "import os, sys, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "line = b'x 1\\n' * 16384\n"
        "for _ in range(1024): sys.stdout.buffer.write(line)\n"
        "sys.stdout.flush(); time.sleep(60)\n"
    )
    stats = RecordingStats()
    c = CommandCollector(
        CommandConfig("c", (sys.executable, "-c", script), timeout=60, output="prometheus"), stats
    )
    done: list[list[Sample]] = []
    t = threading.Thread(target=lambda: done.append(c.collect(NOW)), daemon=True)
    t.start()
    try:
        t.join(30)
        assert done, "collect() still reading the command's output"
        samples = done[0]
        assert value(samples, "up") == 0.0 and value(samples, "command_timed_out") == 0.0
        assert value(samples, "command_exit_code") == -9.0  # SIGKILL's, as the README says
        assert not [s for s in samples if s.name == "x"]  # no part of a cut output is read
        assert stats.drops[("c", "output_too_large")] == 1
        with pytest.raises(ProcessLookupError):
            os.kill(int(pidfile.read_text()), 0)  # killed (and reaped), not left writing
    finally:
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.integration
def test_unparsable_command_output_gives_up_0_and_a_parse_error_with_its_line() -> None:
    script = "print('ok_total 1'); print('# TYPE t gauge'); print('t{a=\"1\" 2')"
    stats = RecordingStats()
    c = CommandCollector(
        CommandConfig("c", (sys.executable, "-c", script), output="prometheus"), stats
    )
    with structlog.testing.capture_logs() as logs:
        samples = c.collect(NOW)
    assert value(samples, "up") == 0.0 and stats.ups["c"] is False
    assert value(samples, "command_exit_code") == 0.0  # it ran: its output is what failed
    assert not [s for s in samples if s.name.startswith("ok")]  # nothing of a failed parse
    assert stats.drops[("c", "parse_error")] == 1
    [event] = [e for e in logs if e["event"] == "command_output_invalid"]
    assert event["line"] == 3


@pytest.mark.integration
def test_command_output_with_timestamps_in_seconds_is_rejected_as_too_old() -> None:
    script = f"print('backup_failed 1 {int(NOW)}')"
    stats = RecordingStats()
    c = CommandCollector(
        CommandConfig("c", (sys.executable, "-c", script), output="prometheus"), stats
    )
    with structlog.testing.capture_logs() as logs:
        samples = c.collect(NOW)
    assert "backup_failed" not in {s.name for s in samples}
    assert stats.drops[("c", "too_old")] == 1
    [event] = [e for e in logs if e["event"] == "samples_rejected"]
    assert event["series"] == "backup_failed" and "seconds" in event["hint"]
