"""How the daemon runs its collectors: a polling collector (host, prometheus, http probes) is a
scheduler job that puts its samples on the bus; any other runs its own thread (`start`) and puts
batches itself. Stopping removes the jobs and stops the threads, a failing one logged and
skipped so the others still stop."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler

from alerter.collectors.base import Collector, PollingCollector
from alerter.protocols import Clock
from alerter.runtime.bus import BusSink
from alerter.runtime.scheduler import add_interval_job

log = structlog.get_logger(__name__)


def job_id(c: Any) -> str:
    return f"collect:{c.name}"


def start(c: Any, sink: BusSink, scheduler: BaseScheduler, clock: Clock) -> None:
    """Run collector `c` into `sink`: a polling one as a job every `c.interval` seconds."""
    if isinstance(c, PollingCollector):

        def poll(c: Any = c, sink: BusSink = sink) -> None:
            samples = c.collect(clock.now())
            if samples:
                sink.put_samples(samples)

        add_interval_job(scheduler, job_id(c), poll, float(c.interval))
    elif isinstance(c, Collector):
        c.start(sink)


def stop(collectors: Sequence[Any], scheduler: BaseScheduler) -> None:
    for c in collectors:
        if isinstance(c, PollingCollector):
            with contextlib.suppress(JobLookupError):  # already gone
                scheduler.remove_job(job_id(c))
        else:
            try:
                c.stop()
            except Exception:
                log.exception("collector_stop_failed", collector=c.name)
