"""Run a command on an interval: exit code and duration as samples, stdout optionally parsed
as Prometheus text. argv only, never a shell; a timeout kills the command's process group.

Samples (labels `job`=collector name): `command_exit_code` (-1 when it could not run or timed
out), `command_duration_seconds`, `command_timed_out`, `up` (1 when it ran to completion).
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
from alerter.collectors.scrape import parse_exposition
from alerter.rules.events import Sample

log = structlog.get_logger(__name__)

OUTPUT_FORMATS = ("none", "prometheus")
MAX_OUTPUT = 4 * 1024 * 1024


KILL_WAIT = 1.0  # seconds to wait for a killed command's pipes and exit


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
        code, timed_out, stdout = self._run()
        duration = time.monotonic() - t0
        samples: list[Sample] = []
        if stdout is not None and self.cfg.output == "prometheus":
            try:
                samples = parse_exposition(stdout, self.name, now, self._job)
            except ValueError as e:
                self._log.warning("command_output_invalid", error=str(e)[:300])
        up = code is not None and not timed_out
        self._stats.up(self.name, up)
        for name, value in (
            ("command_exit_code", float(code if code is not None else -1)),
            ("command_duration_seconds", duration),
            ("command_timed_out", 1.0 if timed_out else 0.0),
            ("up", 1.0 if up else 0.0),
        ):
            samples.append(Sample(now, self.name, name, dict(self._job), value))
        return samples

    def _run(self) -> tuple[int | None, bool, str | None]:
        """(exit code or None, timed out, stdout)."""
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
            return None, False, None
        try:
            out, err = proc.communicate(timeout=self.cfg.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # the process group we created for it
                os.killpg(proc.pid, signal.SIGKILL)
            try:
                proc.communicate(timeout=KILL_WAIT)
            except subprocess.TimeoutExpired:
                # a child that left the group (setsid) still holds the pipes: stop reading them
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
                proc.wait(KILL_WAIT)
            self._log.warning("command_timed_out", timeout=self.cfg.timeout)
            return None, True, None
        if proc.returncode != 0:
            self._log.info(
                "command_exited", code=proc.returncode, stderr=err[:300].decode("utf-8", "replace")
            )
        return proc.returncode, False, out[:MAX_OUTPUT].decode("utf-8", "replace")
