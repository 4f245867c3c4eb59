"""How the daemon runs its collectors: a polling collector (host, prometheus, http probes) is a
scheduler job that puts its samples on the bus; any other runs its own thread (`start`) and puts
batches itself. Stopping removes the jobs and stops the threads, a failing one logged and
skipped so the others still stop; `stop_taking` does so while the daemon keeps taking their
batches off the bus."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
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


def stop_taking(
    collectors: Sequence[Any],
    scheduler: BaseScheduler,
    take: Callable[[], object],
    until: float = math.inf,
    give_up: Callable[[], object] | None = None,
) -> None:
    """`stop` on a helper thread, `take` (the pipeline's drain of a batch off the bus) called
    meanwhile until it is done. A collector reading a backlog waits on the full bus
    (back-pressure) and sees its stop only once its batch is in: were the bus not drained, its
    stop would wait out its thread's join (10 s), and a stop or a reload under a backlog with
    it (systemd's TimeoutStopSec is 15 s). Past `until` (monotonic) nothing more is taken:
    `give_up` (the bus's close) makes a collector waiting on the bus drop its batch and stop."""
    done = threading.Event()

    def run() -> None:
        try:
            stop(collectors, scheduler)
        finally:
            done.set()

    threading.Thread(target=run, name="alerter-collectors-stop", daemon=True).start()
    while not done.is_set():
        if time.monotonic() < until:
            take()
            continue
        if give_up is not None:
            give_up()
        done.wait()
