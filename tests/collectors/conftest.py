"""Fakes for the collector side of the bus: a recording sink here; in-memory positions and
recording stats come from alerter.testing (fixtures for all three)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from alerter.rules.events import Event, LogBatch, LogEvent, Sample
from alerter.testing import MemoryPositions, RecordingStats


class RecordingSink:
    """Records what comes through either door (`events`: log events and samples, in order);
    acks at once unless `auto_ack` is False (then `ack_all()` does)."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.events: list[Event] = []
        self.batches = 0
        self.parse_errors = 0  # counted by the batches, once all their lines were parsed
        self.texts: list[str | None] = []  # the text each batch carries (None: lines only)
        self.unacked: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
        with self.lock:
            self.texts.append(batch.block)  # (not joined by asking)
            self.events.extend(batch)  # (every line parsed now)
            self.parse_errors += batch.parse_errors
            self.batches += 1
            if ack is not None:
                if self.auto_ack:
                    ack()
                else:
                    self.unacked.append(ack)
        return True

    def put_samples(self, samples: Sequence[Sample]) -> bool:
        with self.lock:
            self.events.extend(samples)
            self.batches += 1
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
