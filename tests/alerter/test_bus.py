"""The bounded bus and the per-collector throttle gates."""

from __future__ import annotations

import random
import threading

from prometheus_client import CollectorRegistry

from alerter.bus import Batch, Bus, BusSink, Gate
from alerter.metrics import Metrics
from collectors.events import LogEvent


def events(n: int) -> list[LogEvent]:
    return [LogEvent(0.0, "c", f"line {i}") for i in range(n)]


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def test_open_gate_passes_everything() -> None:
    evs = events(10)
    assert Gate().admit(evs) is evs


def test_rate_gate_refills_by_elapsed_time() -> None:
    clock = Clock()
    g = Gate(clock=clock)
    g.set_rate(100)
    assert len(g.admit(events(250))) == 100  # a full bucket
    assert len(g.admit(events(10))) == 0
    clock.t = 0.5
    assert len(g.admit(events(250))) == 50


def test_sample_gate_keeps_about_the_ratio() -> None:
    g = Gate(rng=random.Random(7))
    g.set_sample(0.1)
    kept = len(g.admit(events(10_000)))
    assert 850 < kept < 1150


def test_pause_drops_all_and_clear_lifts() -> None:
    g = Gate()
    g.pause()
    assert len(g.admit(events(5))) == 0
    g.clear()
    assert len(g.admit(events(5))) == 5


def test_sink_counts_throttled_and_acks_fully_dropped_batches() -> None:
    m = Metrics(CollectorRegistry())
    bus = Bus()
    gate = Gate()
    gate.pause()
    acked = []
    sink = BusSink(bus, "c", gate, m)
    assert sink.put(events(3), ack=lambda: acked.append(1))
    assert acked == [1]
    assert bus.qsize() == 0
    assert (
        m.registry.get_sample_value(
            "alerter_events_dropped_total", {"collector": "c", "reason": "throttled"}
        )
        == 3
    )


def test_full_bus_blocks_producer_until_consumed() -> None:
    bus = Bus(maxsize=1)
    assert bus.put(Batch("c", events(1), None))
    done = threading.Event()

    def producer() -> None:
        bus.put(Batch("c", events(1), None))
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.3)  # blocked: back-pressure, nothing dropped
    assert bus.get(1) is not None
    assert done.wait(5)
    assert bus.qsize() == 1


def test_closed_bus_refuses_instead_of_blocking_forever() -> None:
    bus = Bus(maxsize=1)
    bus.put(Batch("c", events(1), None))
    bus.close()
    assert bus.put(Batch("c", events(1), None)) is False
