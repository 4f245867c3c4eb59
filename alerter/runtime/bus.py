"""The bounded event bus between collectors and the engine, and per-collector throttle gates."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from alerter.collectors.base import Ack, CollectorStats
from alerter.core.events import LogBatch, Sample


@dataclass(frozen=True, slots=True)
class LogItem:
    """A log collector's batch on the bus (the sink's `lines` door)."""

    collector: str
    batch: LogBatch
    ack: Ack | None = None
    kind: Literal["lines"] = "lines"

    def nbytes(self) -> int:
        return lines_bytes(self.batch)


@dataclass(frozen=True, slots=True)
class SampleItem:
    """A metric collector's samples on the bus (the sink's `samples` door)."""

    collector: str
    samples: Sequence[Sample]
    kind: Literal["samples"] = "samples"

    def nbytes(self) -> int:
        return samples_bytes(self.samples)


# What the bus carries: one dataclass per kind, told apart by `kind` (a Literal tag the
# consumer matches on; mypy narrows the union on it), never by looking at the payload.
BusItem = LogItem | SampleItem


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

    def admit_lines(self, batch: LogBatch) -> LogBatch:
        """The lines that pass, still unparsed; the caller counts the rest as throttled."""
        keep = self._keep(len(batch))
        return batch if keep is None else batch.pick(keep)

    def admit_samples(self, samples: Sequence[Sample]) -> Sequence[Sample]:
        """The samples that pass; the caller counts the rest as throttled."""
        keep = self._keep(len(samples))
        return samples if keep is None else [samples[i] for i in keep]

    def _keep(self, n: int) -> Sequence[int] | None:
        """Which of `n` items pass, in order; None: all of them (the gate is open)."""
        if self.mode == "open":
            return None
        with self._lock:
            if self.mode == "pause":
                return ()
            if self.mode == "sample":
                return [i for i in range(n) if self._rng.random() < self.ratio]
            if self.mode == "rate":
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
                self._last = now
                k = min(n, int(self._tokens))
                self._tokens -= k
                return range(k)
            return None


DEFAULT_MAX_BATCHES = 1024
DEFAULT_MAX_BYTES = 64 << 20  # 64 MiB of event data queued, all collectors together
# What a queued batch costs besides its characters (a character counted as a byte), measured
# on CPython 3.11 with the file collector's parsers: a line of a block read whole (`text`), a line
# or event held as its own objects, and each parsed field or label (key, value, dict slot).
BLOCK_LINE_OVERHEAD = 64
EVENT_OVERHEAD = 200
FIELD_OVERHEAD = 200


def lines_bytes(batch: LogBatch) -> int:
    """About the memory a queued log batch holds: its lines (or only its block, when read
    whole and not split). Its lines are parsed after it leaves the bus."""
    n = len(batch)
    text = batch.block  # (what it holds now: asking for `text` may join its lines)
    if text is not None and not batch.split:  # the block only
        return len(text) + BLOCK_LINE_OVERHEAD * n
    return sum(map(len, batch.lines)) + EVENT_OVERHEAD * n + (len(text) if text else 0)


def samples_bytes(samples: Sequence[Sample]) -> int:
    """About the memory queued samples hold: name, labels and overheads."""
    total = EVENT_OVERHEAD * len(samples)
    for s in samples:
        total += len(s.name) + _fields_bytes(s.labels)
    return total


def _fields_bytes(fields: Mapping[str, str]) -> int:
    return sum(FIELD_OVERHEAD + len(k) + len(v) for k, v in fields.items())


class Bus:
    """A queue of items (log batches and samples, in the order they came) bounded in count
    (`maxsize`) and in bytes (`max_bytes`, by each item's `nbytes`). A producer blocks while either bound is reached (back-pressure: a file or
    journal collector stops reading, nothing is dropped) until the engine takes batches out. A
    batch larger than `max_bytes` on its own is let in once the bus is empty, so it cannot wait
    forever."""

    def __init__(self, maxsize: int = DEFAULT_MAX_BATCHES, max_bytes: int = DEFAULT_MAX_BYTES):
        self.maxsize = max(1, maxsize)
        self.max_bytes = max(1, max_bytes)
        self._items: deque[tuple[BusItem, int]] = deque()
        self._bytes = 0
        self.taken = 0  # the size of every item taken off the bus so far
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self.closed = threading.Event()

    def _full(self, size: int) -> bool:
        return bool(self._items) and (
            len(self._items) >= self.maxsize or self._bytes + size > self.max_bytes
        )

    def put(self, item: BusItem) -> bool:
        """Queue `item`, blocking while the bus is full; False once the bus is closed."""
        size = item.nbytes()
        with self._not_full:
            while not self.closed.is_set() and self._full(size):
                self._not_full.wait(0.5)  # close() notifies; the timeout is a safety net
            if self.closed.is_set():
                return False
            self._items.append((item, size))
            self._bytes += size
            self._not_empty.notify()
        return True

    def get(self, timeout: float) -> BusItem | None:
        deadline = time.monotonic() + timeout
        with self._not_empty:
            while not self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._not_empty.wait(left)
            return self._take()

    def get_nowait(self) -> BusItem | None:
        with self._lock:
            return self._take() if self._items else None

    def _take(self) -> BusItem:
        item, size = self._items.popleft()
        self._bytes -= size
        self.taken += size
        self._not_full.notify_all()
        return item

    def qsize(self) -> int:
        return len(self._items)

    def nbytes(self) -> int:
        """The queued items' size by their `nbytes`."""
        return self._bytes

    def close(self) -> None:
        self.closed.set()
        with self._lock:
            self._not_full.notify_all()


class BusSink:
    """What one collector gets as its `Sink`: a door per kind, each through the gate, then
    the bus."""

    def __init__(self, bus: Bus, collector: str, gate: Gate, stats: CollectorStats) -> None:
        self.bus = bus
        self.collector = collector
        self.gate = gate
        self.stats = stats

    def put_lines(self, batch: LogBatch, ack: Ack | None = None) -> bool:
        passed = self.gate.admit_lines(batch)
        self._throttled(len(batch) - len(passed))
        if not passed and ack is None:
            return not self.bus.closed.is_set()
        # (a batch the gate dropped whole still goes through, empty: its ack, a position past
        # it, must come after those of the batches before it still on the bus)
        return self.bus.put(LogItem(self.collector, passed, ack))

    def put_samples(self, samples: Sequence[Sample]) -> bool:
        passed = self.gate.admit_samples(samples)
        self._throttled(len(samples) - len(passed))
        if not passed:
            return not self.bus.closed.is_set()
        return self.bus.put(SampleItem(self.collector, passed))

    def _throttled(self, count: int) -> None:
        if count:
            self.stats.dropped(self.collector, "throttled", count)
