"""APScheduler 3.x set up for the daemon: UTC, bounded misfire grace, listeners that log and count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from alerter.runtime.metrics import Metrics

log = structlog.get_logger(__name__)


def make_scheduler(metrics: Metrics, workers: int = 8) -> BackgroundScheduler:
    sched = BackgroundScheduler(
        timezone="UTC",
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )

    def on_event(event: Any) -> None:
        job = getattr(event, "job_id", "?")
        if event.code == EVENT_JOB_ERROR:
            assert isinstance(event, JobExecutionEvent)
            log.error("job_failed", job=job, error=repr(event.exception), traceback=event.traceback)
            metrics.scheduler_jobs.labels(job, "error").inc()
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job_missed", job=job, scheduled=str(event.scheduled_run_time))
            metrics.scheduler_jobs.labels(job, "missed").inc()
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("job_still_running", job=job)
            metrics.scheduler_jobs.labels(job, "max_instances").inc()

    sched.add_listener(on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return sched


def add_interval_job(
    sched: BackgroundScheduler, job_id: str, fn: Callable[[], Any], seconds: float
) -> None:
    """Run `fn` every `seconds`, first run now; a run late by more than one interval is skipped."""
    from datetime import UTC, datetime

    sched.add_job(
        fn,
        "interval",
        seconds=seconds,
        id=job_id,
        name=job_id,
        replace_existing=True,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=max(1, int(seconds)),
    )
