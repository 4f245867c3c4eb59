"""The bounded event bus between collectors and the engine, and per-collector throttle gates."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collectors.base import Ack, CollectorStats
from collectors.events import Event


@dataclass(frozen=True, slots=True)
class Batch:
    collector: str
    events: Sequence[Event]
    ack: Ack | None


class Gate:
    """Throttle for one collector, set by `throttle` actions: rate limit, sample or pause.

    Applied in the collector's own thread before the bus, so a flooding source costs the engine
    nothing. Dropped events are counted as reason="throttled".
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._rng = rng or random.Random()
        self.mode = "open"  # open | rate | sample | pause
        self.rate = 0.0
        self.ratio = 1.0
        self._tokens = 0.0
        self._last = clock()

    def set_rate(self, per_second: float) -> None:
        with self._lock:
            self.mode, self.rate = "rate", per_second
            self._tokens, self._last = per_second, self._clock()

    def set_sample(self, ratio: float) -> None:
        with self._lock:
            self.mode, self.ratio = "sample", ratio

    def pause(self) -> None:
        with self._lock:
            self.mode = "pause"

    def clear(self) -> None:
        with self._lock:
            self.mode = "open"

    def admit(self, events: Sequence[Event]) -> Sequence[Event]:
        """The events that pass; the caller counts the rest as throttled."""
        if self.mode == "open":
            return events
        with self._lock:
            if self.mode == "pause":
                return ()
            if self.mode == "sample":
                return [e for e in events if self._rng.random() < self.ratio]
            if self.mode == "rate":
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
                self._last = now
                n = min(len(events), int(self._tokens))
                self._tokens -= n
                return events[:n]
            return events


class Bus:
    """A bounded queue of batches. Producers block when it is full (back-pressure, no loss)."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._q: queue.Queue[Batch] = queue.Queue(maxsize=maxsize)
        self.closed = threading.Event()

    def put(self, batch: Batch) -> bool:
        while not self.closed.is_set():
            try:
                self._q.put(batch, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout: float) -> Batch | None:
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def get_nowait(self) -> Batch | None:
        try:
            return self._q.get_nowait()
        except queue.Empty:
            return None

    def qsize(self) -> int:
        return self._q.qsize()

    def close(self) -> None:
        self.closed.set()


class BusSink:
    """What one collector gets as its `Sink`: gate, then the bus."""

    def __init__(self, bus: Bus, collector: str, gate: Gate, stats: CollectorStats) -> None:
        self.bus = bus
        self.collector = collector
        self.gate = gate
        self.stats = stats

    def put(self, events: Sequence[Event], ack: Ack | None = None) -> bool:
        passed = self.gate.admit(events)
        if len(passed) != len(events):
            self.stats.dropped(self.collector, "throttled", len(events) - len(passed))
        if not passed:
            if ack is not None:
                ack()
            return not self.bus.closed.is_set()
        return self.bus.put(Batch(self.collector, passed, ack))
