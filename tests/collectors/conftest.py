"""Fixtures for the collector side of the bus: a recording sink, in-memory positions and
recording stats (the fakes are alerter.testing's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.testing import MemoryPositions, RecordingSink, RecordingStats


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
