"""Fakes for the collector side of the bus: a recording sink, in-memory positions, stats."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from alerter.rules.events import Event, LogEvent


class MemoryPositions:
    """alerter.collectors.base.PositionStore in memory."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()

    def load_positions(self, collector: str) -> dict[str, str]:
        with self.lock:
            return dict(self.data.get(collector, {}))

    def save_positions(self, collector: str, positions: dict[str, str]) -> None:
        with self.lock:
            self.data.setdefault(collector, {}).update(positions)

    def delete_positions(self, collector: str, keys: Sequence[str]) -> None:
        with self.lock:
            for k in keys:
                self.data.get(collector, {}).pop(k, None)


class RecordingStats:
    def __init__(self) -> None:
        self.drops: Counter[tuple[str, str]] = Counter()
        self.ups: dict[str, bool] = {}

    def dropped(self, collector: str, reason: str, count: int = 1) -> None:
        self.drops[(collector, reason)] += count

    def up(self, collector: str, is_up: bool) -> None:
        self.ups[collector] = is_up


class RecordingSink:
    """Records batches; acks at once unless `auto_ack` is False (then `ack_all()` does)."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.events: list[Event] = []
        self.batches = 0
        self.parse_errors = 0  # counted by the batches, once all their lines were parsed
        self.texts: list[str | None] = []  # the text each batch carries (None: lines only)
        self.unacked: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def put(self, events: Sequence[Event], ack: Callable[[], None] | None = None) -> bool:
        with self.lock:
            self.texts.append(getattr(events, "block", None))  # (not joined by asking)
            self.events.extend(events)  # (a LogBatch: every line parsed now)
            self.parse_errors += getattr(events, "parse_errors", 0)
            self.batches += 1
            if ack is not None:
                if self.auto_ack:
                    ack()
                else:
                    self.unacked.append(ack)
        return True

    def ack_all(self) -> None:
        with self.lock:
            acks, self.unacked = self.unacked, []
        for a in acks:
            a()

    @property
    def lines(self) -> list[str]:
        with self.lock:
            return [e.line for e in self.events if isinstance(e, LogEvent)]


@pytest.fixture
def positions() -> MemoryPositions:
    return MemoryPositions()


@pytest.fixture
def stats() -> RecordingStats:
    return RecordingStats()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def others_read_to_end(positions: MemoryPositions, live: Path, collector: str = "f") -> bool:
    """Every saved position but the file now at `live` is at its file's end: the rotated files
    were finished (their positions stay, as tombstones that keep them known)."""
    import json

    ino = live.stat().st_ino
    saved = [json.loads(v) for v in positions.load_positions(collector).values()]
    others = [p for p in saved if p["ino"] != ino]
    return bool(others) and all(p["offset"] == p["size"] for p in others)
