"""A small pool of worker threads where jobs with the same key run one at a time, in order.

Actions on one target (a unit, a collector) must not overlap: an undo queued behind its apply
runs after it. Jobs on different targets run in parallel, so one slow command does not hold up
a restart elsewhere. The main loop only enqueues; it never waits.

The daemon keeps one pool for its lifetime and hands it to each runner it builds: a reload's
runner queues its runs behind the ones the old runner still has going on the same target.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class Job:
    def __init__(self, run: Callable[[], None], cancel: Callable[[], None] | None = None) -> None:
        self.run = run
        self.cancel = cancel or (lambda: None)


class KeyedWorkers:
    def __init__(self, workers: int = 4, name: str = "alerter-action") -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[Job]] = {}
        self._ready: queue.Queue[str | None] = queue.Queue()
        self._closed = False
        self._idle = threading.Condition(self._lock)
        self._workers = workers
        self._name = name
        self._threads: list[threading.Thread] = []  # started by the first job

    def _start_threads(self) -> None:
        """Under the lock."""
        self._threads = [
            threading.Thread(target=self._loop, name=f"{self._name}-{i}", daemon=True)
            for i in range(self._workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, key: str, job: Job) -> bool:
        with self._lock:
            if self._closed:
                return False
            if not self._threads:
                self._start_threads()
            q = self._pending.get(key)
            if q is None:
                self._pending[key] = deque([job])
                self._ready.put(key)
            else:
                q.append(job)
            return True

    def idle(self) -> bool:
        with self._lock:
            return not self._pending

    def queued(self, key: str) -> int:
        """How many jobs on `key` wait (behind the one running on it, if any)."""
        with self._lock:
            return len(self._pending.get(key, ()))

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def _loop(self) -> None:
        while True:
            key = self._ready.get()
            if key is None:
                return
            while True:
                with self._lock:
                    q = self._pending[key]
                    if not q:
                        # The key stays in _pending while its job runs, so a job submitted
                        # meanwhile queues behind it instead of starting on another thread.
                        del self._pending[key]
                        self._idle.notify_all()
                        break
                    job = q.popleft()
                try:
                    job.run()
                except Exception:
                    log.exception("action_job_crashed", key=key)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel queued jobs; wait up to `timeout` in all for running ones (they are daemon
        threads: one still running after that finishes and records on its own, or dies with
        the process). Short, because the main loop, which pings the watchdog, waits here."""
        with self._lock:
            self._closed = True
            cancelled = [job for q in self._pending.values() for job in q]
            for q in self._pending.values():
                q.clear()
        for job in cancelled:
            try:
                job.cancel()
            except Exception:
                log.exception("action_job_cancel_crashed")
        with self._lock:
            threads = self._threads  # (none when no job was ever submitted)
        for _ in threads:
            self._ready.put(None)
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
