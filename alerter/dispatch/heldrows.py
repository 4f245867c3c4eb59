"""The outbox rows held in memory while the state store refuses writes (disk full, read-only,
I/O error): per lane, oldest first, at most MEMORY_LIMIT in all. Past it the oldest row of the
longest lane is dropped (the outbox says so and counts it). Shared by the main loop (hold,
spill, unspill) and the lanes' worker threads (head, done)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable

from alerter.dispatch.outboxrows import Row

MEMORY_LIMIT = 10_000  # notifications held in memory while the state store cannot be written


class HeldRows:
    def __init__(self, lanes: Iterable[str], dropped: Callable[[Row], None]) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, collections.deque[Row]] = {n: collections.deque() for n in lanes}
        self._count = 0
        self._dropped = dropped  # told of each row dropped past MEMORY_LIMIT

    def __len__(self) -> int:
        return self._count

    def has_lane(self, lane: str) -> bool:
        return lane in self._queues

    def add(self, row: Row) -> bool:
        """Hold `row` behind its lane's others; False if its lane is not one of these."""
        with self._lock:
            queue = self._queues.get(row.lane)
            if queue is None:
                return False
            queue.append(row)
            self._count += 1
            self._bound()
        return True

    def head(self, lane: str) -> Row | None:
        with self._lock:
            queue = self._queues.get(lane)
            return queue[0] if queue else None

    def done(self, row: Row) -> None:
        """`row`, the head of its lane, is finished."""
        with self._lock:
            queue = self._queues.get(row.lane)
            if queue and queue[0] is row:
                queue.popleft()
                self._count -= 1

    def take_all(self) -> list[Row]:
        """Every row held, to be written by the caller's transaction."""
        with self._lock:
            rows = [r for q in self._queues.values() for r in q]
            for q in self._queues.values():
                q.clear()
            self._count = 0
        return rows

    def put_back(self, rows: list[Row]) -> None:
        """Hold `rows` again ahead of newer ones (those of a lane not here are left out)."""
        with self._lock:
            for row in reversed(rows):
                queue = self._queues.get(row.lane)
                if queue is not None:
                    queue.appendleft(row)
                    self._count += 1
            self._bound()

    def _bound(self) -> None:
        while self._count > MEMORY_LIMIT:
            row = max(self._queues.values(), key=len).popleft()
            self._count -= 1
            self._dropped(row)
