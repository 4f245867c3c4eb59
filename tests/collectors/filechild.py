"""A file collector in its own process for the kill -9 test: real StateStore, real bus, an
"engine" thread that writes every event's line to OUT and then acks the batch.

    python -m tests.collectors.filechild STATE_DIR LOG OUT
"""

from __future__ import annotations

import os
import sys
import threading

import alerter.collectors.tail
from alerter.collectors.file import FileCollector, FileConfig
from alerter.runtime.bus import Bus, BusSink, Gate
from alerter.store.db import StateStore
from alerter.testing import RecordingStats


def main() -> None:
    state_dir, log, out = sys.argv[1:4]
    alerter.collectors.tail.BLOCK_BYTES = 4096  # many small batches, so a kill lands between them
    store = StateStore(state_dir)
    stats = RecordingStats()
    bus = Bus(maxsize=4)
    collector = FileCollector(
        FileConfig(
            name="f", paths=(log,), start_at="beginning", poll_interval=0.01, max_line_bytes=1024
        ),
        store,
        stats,
    )
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def engine() -> None:
        while True:
            item = bus.get(timeout=0.1)
            if item is None:
                continue
            assert item.kind == "lines"  # a file collector's door
            text = "".join(line + "\n" for line in item.batch.lines)
            os.write(fd, text.encode())
            if item.ack is not None:
                item.ack()

    threading.Thread(target=engine, daemon=True).start()
    collector.start(BusSink(bus, "f", Gate(), stats))
    print("started", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
