"""The bounded event bus between collectors and the engine, and per-collector throttle gates."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from alerter.collectors.base import Ack, CollectorStats
from alerter.rules.events import Event, LogBatch, LogEvent


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
                keep = [i for i in range(len(events)) if self._rng.random() < self.ratio]
                if isinstance(events, LogBatch):  # its lines stay unparsed
                    return events.pick(keep)
                return [events[i] for i in keep]
            if self.mode == "rate":
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
                self._last = now
                n = min(len(events), int(self._tokens))
                self._tokens -= n
                return events.pick(range(n)) if isinstance(events, LogBatch) else events[:n]
            return events


DEFAULT_MAX_BATCHES = 1024
DEFAULT_MAX_BYTES = 64 << 20  # 64 MiB of event data queued, all collectors together
# What a queued batch costs besides its characters (a character counted as a byte), measured
# on CPython 3.11 with the file collector's parsers: a line of a block read whole (`text`), a line
# or event held as its own objects, and each parsed field or label (key, value, dict slot).
BLOCK_LINE_OVERHEAD = 64
EVENT_OVERHEAD = 200
FIELD_OVERHEAD = 200


def batch_bytes(events: Sequence[Event]) -> int:
    """About the memory a queued batch holds. A LogBatch holds its lines (or only its block,
    when read whole and not split): its lines are parsed after it leaves the bus."""
    if isinstance(events, LogBatch):
        n = len(events)
        text = events.block  # (what it holds now: asking for `text` may join its lines)
        if text is not None and not events.split:  # the block only
            return len(text) + BLOCK_LINE_OVERHEAD * n
        return sum(map(len, events.lines)) + EVENT_OVERHEAD * n + (len(text) if text else 0)
    total = EVENT_OVERHEAD * len(events)
    for e in events:
        if isinstance(e, LogEvent):
            total += len(e.line) + _fields_bytes(e.fields)
        else:
            total += len(e.name) + _fields_bytes(e.labels)
    return total


def _fields_bytes(fields: Mapping[str, str]) -> int:
    return sum(FIELD_OVERHEAD + len(k) + len(v) for k, v in fields.items())


class Bus:
    """A queue of batches bounded in count (`maxsize`) and in bytes (`max_bytes`, by
    `batch_bytes`). A producer blocks while either bound is reached (back-pressure: a file or
    journal collector stops reading, nothing is dropped) until the engine takes batches out. A
    batch larger than `max_bytes` on its own is let in once the bus is empty, so it cannot wait
    forever."""

    def __init__(self, maxsize: int = DEFAULT_MAX_BATCHES, max_bytes: int = DEFAULT_MAX_BYTES):
        self.maxsize = max(1, maxsize)
        self.max_bytes = max(1, max_bytes)
        self._items: deque[tuple[Batch, int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self.closed = threading.Event()

    def _full(self, size: int) -> bool:
        return bool(self._items) and (
            len(self._items) >= self.maxsize or self._bytes + size > self.max_bytes
        )

    def put(self, batch: Batch) -> bool:
        """Queue `batch`, blocking while the bus is full; False once the bus is closed."""
        size = batch_bytes(batch.events)
        with self._not_full:
            while not self.closed.is_set() and self._full(size):
                self._not_full.wait(0.5)  # close() notifies; the timeout is a safety net
            if self.closed.is_set():
                return False
            self._items.append((batch, size))
            self._bytes += size
            self._not_empty.notify()
        return True

    def get(self, timeout: float) -> Batch | None:
        deadline = time.monotonic() + timeout
        with self._not_empty:
            while not self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._not_empty.wait(left)
            return self._take()

    def get_nowait(self) -> Batch | None:
        with self._lock:
            return self._take() if self._items else None

    def _take(self) -> Batch:
        batch, size = self._items.popleft()
        self._bytes -= size
        self._not_full.notify_all()
        return batch

    def qsize(self) -> int:
        return len(self._items)

    def nbytes(self) -> int:
        """The queued batches' size by `batch_bytes`."""
        return self._bytes

    def close(self) -> None:
        self.closed.set()
        with self._lock:
            self._not_full.notify_all()


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
