"""Run a command on an interval: exit code and duration as samples, stdout optionally parsed
as Prometheus text. argv only, never a shell; a timeout kills the command's process group.

Samples (labels `job`=collector name): `command_exit_code` (-1 when it could not run or timed
out), `command_duration_seconds`, `command_timed_out`, `up` (1 when it ran to completion and,
with `output: prometheus`, its output parsed). Output that does not parse gives `up 0`, is
counted as dropped with reason="parse_error" and logged with its line number. Output past
MAX_OUTPUT is not read: the command is killed (exit code -9, SIGKILL's), gives `up 0` and is
counted as dropped with reason="output_too_large". As in a scrape, a sample's own timestamp is its time, and one
more than 5 minutes ahead is rejected (reason="future_timestamp"), as is one more than an
hour older than the run (reason="too_old").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass

import structlog

from alerter.collectors.base import CollectorStats
from alerter.collectors.procread import read_child_output
from alerter.collectors.scrape import ExpositionError, parse_exposition, report_rejected
from alerter.core.events import Sample

log = structlog.get_logger(__name__)

OUTPUT_FORMATS = ("none", "prometheus")
MAX_OUTPUT = 4 * 1024 * 1024


MAX_STDERR = 4096  # stderr kept for the log (the rest is read and dropped)
KILL_WAIT = 1.0  # seconds to wait for a killed command's exit


@dataclass(frozen=True, slots=True)
class Run:
    """One run: the exit code (None when it could not run, or was killed at its timeout),
    and stdout when it ran to completion with at most MAX_OUTPUT bytes of it."""

    code: int | None
    timed_out: bool = False
    too_large: bool = False  # stdout passed MAX_OUTPUT: it was killed, its output not read
    stdout: str | None = None


@dataclass(frozen=True, slots=True)
class CommandConfig:
    name: str
    argv: tuple[str, ...]
    interval: float = 60.0
    timeout: float = 30.0
    output: str = "none"  # none | prometheus: stdout is Prometheus text exposition


class CommandCollector:
    def __init__(self, cfg: CommandConfig, stats: CollectorStats) -> None:
        self.name = cfg.name
        self.interval = cfg.interval
        self.cfg = cfg
        self._stats = stats
        self._job = {"job": cfg.name}
        self._log = log.bind(collector=cfg.name)

    def collect(self, now: float) -> list[Sample]:
        t0 = time.monotonic()
        run = self._run()
        duration = time.monotonic() - t0
        samples: list[Sample] = []
        parsed = True
        if run.stdout is not None and self.cfg.output == "prometheus":
            try:
                got = parse_exposition(run.stdout, self.name, now, self._job)
            except ExpositionError as e:  # as a scrape that fails to parse: up 0
                parsed = False
                self._stats.dropped(self.name, "parse_error")
                self._log.warning("command_output_invalid", line=e.line, error=str(e)[:300])
            else:
                samples = got.samples
                report_rejected(got, now, self.name, self._stats, self._log)
        up = run.code is not None and not run.timed_out and not run.too_large and parsed
        self._stats.up(self.name, up)
        for name, value in (
            ("command_exit_code", float(run.code if run.code is not None else -1)),
            ("command_duration_seconds", duration),
            ("command_timed_out", 1.0 if run.timed_out else 0.0),
            ("up", 1.0 if up else 0.0),
        ):
            samples.append(Sample(now, self.name, name, dict(self._job), value))
        return samples

    def _run(self) -> Run:
        try:
            proc = subprocess.Popen(
                list(self.cfg.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            self._log.warning("command_failed", argv=list(self.cfg.argv), error=str(e))
            return Run(None)
        assert proc.stdout is not None and proc.stderr is not None
        t0 = time.monotonic()
        got = read_child_output(proc.stdout, proc.stderr, MAX_OUTPUT, MAX_STDERR, self.cfg.timeout)
        code = None
        if got.ended:
            with contextlib.suppress(subprocess.TimeoutExpired):  # (pipes closed, still running)
                code = proc.wait(max(0.0, self.cfg.timeout - (time.monotonic() - t0)))
        if code is None:  # output too large, or timed out: nothing more is read
            self._kill(proc)
            if got.overflow:
                self._stats.dropped(self.name, "output_too_large")
                self._log.warning("command_output_too_large", max_bytes=MAX_OUTPUT)
                return Run(proc.returncode, too_large=True)
            self._log.warning("command_timed_out", timeout=self.cfg.timeout)
            return Run(None, timed_out=True)
        if code != 0:
            self._log.info(
                "command_exited", code=code, stderr=got.stderr[:300].decode("utf-8", "replace")
            )
        return Run(code, stdout=got.stdout.decode("utf-8", "replace"))

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):  # the process group we created for it
            os.killpg(proc.pid, signal.SIGKILL)
        # a child that left the group (setsid) may still hold the pipes: they are not read
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(KILL_WAIT)
