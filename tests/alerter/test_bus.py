"""The bounded bus and the per-collector throttle gates."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerter.collectors.file import FileCollector, FileConfig
from alerter.core.events import LogBatch, Sample
from alerter.runtime.bus import (
    BLOCK_LINE_OVERHEAD,
    EVENT_OVERHEAD,
    FIELD_OVERHEAD,
    Bus,
    BusSink,
    Gate,
    LogItem,
    SampleItem,
    lines_bytes,
    samples_bytes,
)
from alerter.runtime.metrics import Metrics
from alerter.testing import FixedClock, MemoryPositions, RecordingStats
from tests.conftest import wait_for


def events(n: int) -> LogBatch:
    return LogBatch("c", 0.0, None, [f"line {i}" for i in range(n)])


def samples(n: int) -> list[Sample]:
    return [Sample(0.0, "c", f"s{i}", {}, float(i)) for i in range(n)]


def test_open_gate_passes_everything() -> None:
    batch, got = events(10), samples(10)
    assert Gate().admit_lines(batch) is batch
    assert Gate().admit_samples(got) is got


def test_rate_gate_refills_by_elapsed_time() -> None:
    clock = FixedClock()
    g = Gate(clock=clock.monotonic)
    g.set_rate(100)
    assert len(g.admit_lines(events(250))) == 100  # a full bucket
    assert len(g.admit_samples(samples(10))) == 0  # one bucket for both kinds
    clock.advance(0.5)
    assert g.admit_samples(samples(250)) == samples(50)  # the first ones, in order


def test_sample_gate_keeps_about_the_ratio() -> None:
    g = Gate(rng=random.Random(7))
    g.set_sample(0.1)
    kept = len(g.admit_lines(events(10_000)))
    assert 850 < kept < 1150
    kept = len(g.admit_samples(samples(10_000)))
    assert 850 < kept < 1150


def test_pause_drops_all_and_clear_lifts() -> None:
    g = Gate()
    g.pause()
    assert len(g.admit_lines(events(5))) == 0 and len(g.admit_samples(samples(5))) == 0
    g.clear()
    assert len(g.admit_lines(events(5))) == 5 and len(g.admit_samples(samples(5))) == 5


def test_a_fully_dropped_batch_is_counted_and_acked_after_the_batches_before_it() -> None:
    # its ack saves a position past it: saved before the batch still on the bus was processed,
    # a crash would lose that batch's lines
    m = Metrics(CollectorRegistry())
    bus = Bus()
    gate = Gate()
    acked: list[str] = []
    sink = BusSink(bus, "c", gate, m)
    assert sink.put_lines(events(2), ack=lambda: acked.append("first"))
    gate.pause()
    assert sink.put_lines(events(3), ack=lambda: acked.append("dropped"))
    assert sink.put_samples(samples(2))
    assert acked == [] and bus.qsize() == 2  # (the dropped batch goes through empty; samples not)
    for _ in range(2):
        item = bus.get(1)
        assert isinstance(item, LogItem) and item.ack is not None
        item.ack()
    assert acked == ["first", "dropped"]
    assert (
        m.registry.get_sample_value(
            "alerter_events_dropped_total", {"collector": "c", "reason": "throttled"}
        )
        == 5
    )


def test_each_door_queues_its_own_kind_in_the_order_put() -> None:
    bus, gate = Bus(), Gate(clock=FixedClock().monotonic)
    gate.set_rate(3)
    sink = BusSink(bus, "c", gate, RecordingStats())
    assert sink.put_samples(samples(2))
    assert sink.put_lines(events(4))  # one token left: its first line passes
    first, second = bus.get(1), bus.get(1)
    assert isinstance(first, SampleItem) and first.kind == "samples"
    assert list(first.samples) == samples(2)
    assert isinstance(second, LogItem) and second.kind == "lines"
    assert list(second.batch.lines) == ["line 0"] and second.collector == "c"
    assert bus.nbytes() == 0 and bus.get_nowait() is None


def test_full_bus_blocks_producer_until_consumed() -> None:
    bus = Bus(maxsize=1)
    assert bus.put(LogItem("c", events(1)))
    done = threading.Event()

    def producer() -> None:
        bus.put(SampleItem("c", samples(1)))
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.3)  # blocked: back-pressure, nothing dropped
    assert bus.get(1) is not None
    assert done.wait(5)
    assert bus.qsize() == 1


def test_closed_bus_refuses_instead_of_blocking_forever() -> None:
    bus = Bus(maxsize=1)
    bus.put(LogItem("c", events(1)))
    bus.close()
    assert bus.put(LogItem("c", events(1))) is False


# --- the byte bound ---------------------------------------------------------------------------


def line_batch(n: int, width: int) -> LogItem:
    return LogItem("c", LogBatch("c", 0.0, None, ["x" * width for _ in range(n)]))


def test_item_bytes_count_text_labels_and_overheads() -> None:
    e, f = EVENT_OVERHEAD, FIELD_OVERHEAD
    up = [Sample(0.0, "c", "up", {"job": "a"}, 1.0)]
    assert samples_bytes(up) == SampleItem("c", up).nbytes() == e + 2 + f + 4
    parse = _recording_parse()
    # A block read whole, not split: its text and a little per line.
    block = LogBatch("c", 0.0, parse, text="one\ntwo\nthree")
    assert lines_bytes(block) == LogItem("c", block).nbytes() == 13 + 3 * BLOCK_LINE_OVERHEAD
    assert not block.split  # estimating did not split it
    # Lines held as their own strings (and the block, when it was split).
    lines = LogBatch("c", 0.0, parse, ["one", "two", "three"])
    assert lines_bytes(lines) == 11 + 3 * e
    assert block.lines[0] == "one"  # a line read: the block is split
    assert lines_bytes(block) == 13 + 11 + 3 * e
    # Nothing was parsed: a queued batch has no fields yet (parsed after it leaves the bus).
    assert parse.seen == [] and block.parse_errors == lines.parse_errors == 0


class _Parse:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, line: str) -> tuple[dict[str, str] | None, float | None]:
        self.seen.append(line)
        return ({"line": line}, None) if line.startswith("line") else (None, None)


def _recording_parse() -> _Parse:
    return _Parse()


def test_gates_keep_a_log_batch_lazy() -> None:
    parse = _recording_parse()
    lines = [f"line {i}" if i % 3 else "junk" for i in range(300)]
    g = Gate(clock=FixedClock().monotonic, rng=random.Random(7))
    g.set_rate(100)
    head = g.admit_lines(LogBatch("c", 0.0, parse, text="\n".join(lines)))
    assert head.lines == lines[:100] and parse.seen == []
    g.set_sample(0.5)
    kept = g.admit_lines(LogBatch("c", 0.0, parse, text="\n".join(lines)))
    assert 100 < len(kept) < 200 and parse.seen == []
    # the lines a gate with the same draws keeps of a batch of lines
    same = Gate(rng=random.Random(7))
    same.set_sample(0.5)
    admitted = same.admit_lines(LogBatch("c", 0.0, None, list(lines)))
    assert kept.lines == admitted.lines
    assert [dict(e.fields) for e in kept] == [
        {"line": x} if x != "junk" else {} for x in kept.lines
    ]
    assert kept.parse_errors == kept.lines.count("junk") > 0


def test_a_producer_blocks_at_the_byte_bound_and_resumes_when_drained() -> None:
    one = line_batch(10, 1000).nbytes()  # ~12 KB
    bus = Bus(maxsize=1024, max_bytes=3 * one)
    for _ in range(3):
        assert bus.put(line_batch(10, 1000))
    assert bus.nbytes() == 3 * one and bus.qsize() == 3  # far below the batch bound
    done = threading.Event()
    results: list[bool] = []

    def producer() -> None:
        results.append(bus.put(line_batch(10, 1000)))
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.3)  # blocked by bytes: back-pressure, nothing dropped
    assert bus.qsize() == 3
    assert bus.get(1) is not None
    assert done.wait(5) and results == [True]
    assert bus.qsize() == 3 and bus.nbytes() == 3 * one
    while bus.get_nowait() is not None:
        pass
    assert bus.nbytes() == 0


def test_a_batch_bigger_than_the_bound_alone_gets_in_once_the_bus_is_empty() -> None:
    bus = Bus(max_bytes=1000)
    assert bus.put(line_batch(1, 10))
    done = threading.Event()

    def producer() -> None:
        bus.put(line_batch(10, 1000))
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.3)  # waits for the small one to leave
    assert bus.get(1) is not None
    assert done.wait(5)
    got = bus.get(1)
    assert isinstance(got, LogItem) and len(got.batch) == 10


def test_close_wakes_a_producer_blocked_on_bytes() -> None:
    bus = Bus(max_bytes=100)
    bus.put(line_batch(1, 200))
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(bus.put(line_batch(1, 10))), daemon=True)
    t.start()
    bus.close()
    t.join(5)
    assert result == [False]


def test_the_file_collector_is_held_at_the_byte_bound_and_loses_no_line(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    n = 200_000
    log.write_text("".join(f"line {i:08d} {'x' * 80}\n" for i in range(n)))  # ~19 MB
    bound = 8 << 20  # the file collector's batches are about 1 MiB of text
    bus = Bus(max_bytes=bound)
    stats = RecordingStats()
    collector = FileCollector(
        FileConfig(name="f", paths=(str(log),), start_at="beginning", poll_interval=0.01),
        MemoryPositions(),
        stats,
    )
    collector.start(BusSink(bus, "f", Gate(), stats))
    try:
        # Nobody takes batches yet: the collector fills the bus to the bound and is held there.
        wait_for(lambda: bus.nbytes() > bound // 2, timeout=60)
        seen, peak = 0, 0
        deadline = time.monotonic() + 120
        while seen < n and time.monotonic() < deadline:
            peak = max(peak, bus.nbytes())
            item = bus.get(0.5)
            if item is None:
                continue
            assert isinstance(item, LogItem) and item.nbytes() < bound
            seen += len(item.batch)
            if item.ack is not None:
                item.ack()
    finally:
        collector.stop()
    assert seen == n
    assert bound // 2 < peak <= bound
    assert not stats.drops
