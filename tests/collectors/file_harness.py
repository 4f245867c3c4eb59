"""The file collector on real files, for tests/collectors/test_file_*.py: `Harness` starts and
stops collectors on a temporary directory's `app.log`; `append`, `numbered`, `received` write and
check lines."""

from __future__ import annotations

from pathlib import Path

from alerter.collectors.file import FileCollector, FileConfig
from alerter.testing import MemoryPositions, RecordingSink, RecordingStats


class Harness:
    def __init__(self, tmp: Path, positions: MemoryPositions, stats: RecordingStats) -> None:
        self.tmp = tmp
        self.positions = positions
        self.stats = stats
        self.running: list[FileCollector] = []

    def start(
        self, sink: RecordingSink | None = None, **kw: object
    ) -> tuple[FileCollector, RecordingSink]:
        opts: dict[str, object] = {
            "name": "f",
            "paths": (str(self.tmp / "app.log"),),
            "start_at": "beginning",
            "poll_interval": 0.02,
            "rotate_wait": 1.0,
        }
        opts.update(kw)
        c = FileCollector(FileConfig(**opts), self.positions, self.stats)  # type: ignore[arg-type]
        s = sink or RecordingSink()
        c.start(s)
        self.running.append(c)
        return c, s

    def stop(self, c: FileCollector) -> None:
        c.stop()
        self.running.remove(c)


def append(path: Path, lines: list[str] | str) -> None:
    with path.open("a") as f:
        f.write(lines if isinstance(lines, str) else "".join(x + "\n" for x in lines))


def numbered(prefix: str, n: int) -> list[str]:
    return [f"{prefix} {i}" for i in range(n)]


def received(sink: RecordingSink, expected: list[str]) -> bool:
    return sorted(sink.lines) == sorted(expected)
