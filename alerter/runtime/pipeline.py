"""The main loop's work on the data flow: batches off the bus into the engine, the transitions
that come out to the actions and the dispatcher, and the checkpoint of what they changed.

All of it runs on the main loop's thread (rules/ is single-threaded by design), but `emit`,
which the actions call from theirs, and `alerts` and `rule_health`, the API's reads. It works on
`running`, the Running of the config loaded, which a reload replaces; the engine is used under
`engine_lock`, which those reads and a reload's swap take too.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Container, Sequence
from functools import partial
from typing import Any, TypeVar, assert_never

import structlog

from alerter.protocols import Clock, Durable
from alerter.rules.alert import Alert, Listing, Transition
from alerter.runtime.bus import Bus
from alerter.runtime.checkpoint import Checkpointer
from alerter.runtime.metrics import Metrics
from alerter.runtime.running import Running
from alerter.runtime.transitionlog import TransitionLog
from alerter.runtime.tuning import HeapTrim

log = structlog.get_logger(__name__)
T = TypeVar("T")

DRAIN_BUDGET_SECONDS = 0.5  # one turn of the main loop processes batches for at most this long


class Pipeline:
    """Collectors' batches through the engine to the actions and the dispatcher, on the main
    loop's thread; a part that fails is logged and counted there (`guard`), never fatal."""

    def __init__(
        self, clock: Clock, metrics: Metrics, checkpoint: Checkpointer, heap: HeapTrim
    ) -> None:
        self.bus = Bus()
        self.clock = clock
        self.metrics = metrics
        self.checkpoint = checkpoint
        self.heap = heap  # free C heap handed back as log text is processed
        self.running: Running | None = None
        self.engine_lock = threading.RLock()
        self._emitted: collections.deque[Transition] = collections.deque()
        self.transitions = TransitionLog()  # the alert_transition lines, within a budget
        # The main loop's watchdog ping (the daemon sets it), which the dispatcher calls on the
        # main loop's thread between the parts of a long `handle`.
        self.alive: Callable[[], None] = lambda: None
        # the engine's listings the dispatcher was last refreshed with (`tick`)
        self._refreshed: list[Listing] = []
        # the listings that list actions, and their firing alerts handed to the actions (`tick`)
        self._acting: tuple[list[Listing], tuple[Alert, ...]] = ([], ())

    def drain(self, max_batches: int, timeout: float) -> int:
        """Process batches off the bus: up to `max_batches`, and for at most DRAIN_BUDGET_SECONDS
        (the watchdog, timers, dispatch and the checkpoint wait meanwhile; the bus's
        back-pressure holds the collectors)."""
        item = self.bus.get(timeout)
        n = 0
        until = time.monotonic() + DRAIN_BUDGET_SECONDS
        rs = self.running
        assert rs is not None
        while item is not None:
            now = self.clock.now()
            self.checkpoint.note_work(time.monotonic())
            transitions = None
            match item.kind:  # the sink's door it came through (bus.BusItem)
                case "lines":
                    batch = item.batch
                    if len(batch):  # (empty: a batch the throttle dropped whole, for its ack)
                        with self.engine_lock:
                            transitions = self.guard("engine", rs.engine.process, batch, now)
                    if batch.parse_errors:
                        # a line is parsed when the engine looks at it: counted once it is done
                        self.metrics.dropped(item.collector, "parse_error", batch.parse_errors)
                    self.metrics.events.labels(item.collector).inc(len(batch))
                    self.metrics.collector_lag.labels(item.collector).set(max(0.0, now - batch.now))
                    if item.ack is not None:
                        try:
                            item.ack()
                        except Exception:
                            log.exception("ack_failed", collector=item.collector)
                case "samples":
                    with self.engine_lock:
                        self.guard("engine", rs.engine.process_samples, item.samples, now)
                    self.metrics.events.labels(item.collector).inc(len(item.samples))
                case _:
                    assert_never(item)
            if transitions:
                self.handle(transitions, now)
            self.heap.reached(self.bus.taken)
            n += 1
            if n >= max_batches or time.monotonic() >= until:
                break
            item = self.bus.get_nowait()
        self.metrics.bus_length.set(self.bus.qsize())
        return n

    def tick(self, rs: Running, now: float) -> dict[str, int]:
        """The engine's timers (`for` durations, windows sliding, resolves), then the firing
        alerts to the dispatcher and the actions; returns how many alerts are pending and
        firing. What it hands on is what changed: the dispatcher gets the firing alerts of the
        rules whose alerts changed since its last refresh, the actions those of the rules that
        list actions (with every firing alert's fingerprint, found when asked); a storm's 100k
        alerts cost nothing here while they stay as they are."""
        with self.engine_lock:
            transitions = self.guard("engine", rs.engine.tick, now, time.perf_counter)
            self.alive()  # (the engine's part takes a while with 100k alerts changing)
            listings = rs.engine.listings()
        self.handle(transitions or [], now)
        self.transitions.summarize()
        self.alive()
        self.guard("dispatcher", self._refresh, rs, listings)
        self.guard(
            "actions", rs.actions.tick, self._acting_alerts(listings), now, _Firing(listings)
        )
        counts = collections.Counter[tuple[str, str]]()
        for x in listings:
            counts[x.alertname, "pending"] += x.pending
            counts[x.alertname, "firing"] += len(x.firing)
        self.metrics.set_alert_counts(counts)
        return _by_state(listings)

    def _refresh(self, rs: Running, listings: list[Listing]) -> None:
        """The dispatcher holds each firing alert as the engine lists it now: those of the
        rules whose Listing is not the one it was last refreshed with (all, after a reload),
        and of the rules of the same name after such a rule (of two alerts of one
        fingerprint, the later one is held, as a refresh with every alert leaves it)."""
        before, changed = self._refreshed, set()
        firing: list[Alert] = []
        for i, x in enumerate(listings):
            if x.alertname in changed or i >= len(before) or before[i] is not x:
                changed.add(x.alertname)
                firing += x.firing
        rs.dispatcher.refresh(firing)
        self._refreshed = listings

    def _acting_alerts(self, listings: list[Listing]) -> tuple[Alert, ...]:
        """The firing alerts of the rules that list actions: the same tuple while none of those
        rules' Listings changed, which tells the actions that none of these alerts did."""
        with_actions = [x for x in listings if x.actions]
        before, acting = self._acting
        if len(before) != len(with_actions) or any(
            x is not y for x, y in zip(before, with_actions, strict=True)
        ):
            acting = tuple([a for x in with_actions for a in x.firing])
            self._acting = (with_actions, acting)
        return acting

    def handle(self, transitions: Sequence[Transition], now: float) -> None:
        if not transitions:
            return
        rs = self.running
        assert rs is not None
        self.transitions.log(transitions)
        self.guard("actions", rs.actions.handle, transitions, now)
        self.guard("dispatcher", rs.dispatcher.handle, transitions, now, self.alive)

    def emit(self, transitions: Sequence[Transition]) -> None:
        """Synthetic transitions from actions (any thread); handled by the main loop."""
        self._emitted.extend(transitions)

    def handle_emitted(self) -> None:
        if not self._emitted:
            return
        batch = []
        while self._emitted:
            batch.append(self._emitted.popleft())
        rs = self.running
        assert rs is not None
        self.guard("dispatcher", rs.dispatcher.handle, batch, self.clock.now())

    def alerts(self) -> list[Alert]:
        """The engine's pending and firing alerts (any thread: the API's too)."""
        rs = self.running
        if rs is None:
            return []
        with self.engine_lock:
            return rs.engine.alerts()

    def listings(self) -> list[Listing]:
        """Each rule's alerts, the same Listing object while none of them changed (any
        thread)."""
        rs = self.running
        if rs is None:
            return []
        with self.engine_lock:
            return rs.engine.listings()

    def alert_counts(self) -> dict[str, int]:
        """How many of the engine's alerts are pending and firing (any thread)."""
        rs = self.running
        if rs is None:
            return _by_state([])
        with self.engine_lock:
            return _by_state(rs.engine.listings())

    def rule_health(self) -> list[dict[str, Any]]:
        """The engine's rules and their health (any thread)."""
        rs = self.running
        if rs is None:
            return []
        with self.engine_lock:
            return rs.engine.rule_health()

    def commit_if_due(self, rs: Running) -> None:
        if self.checkpoint.due(time.monotonic(), self._durables(rs)):
            self.guard("checkpoint", self.commit, rs)

    def commit(self, rs: Running) -> bool:
        """One checkpoint: engine state, dispatcher and action changes, staged positions."""
        with self.engine_lock:
            return self.checkpoint.commit(
                partial(rs.engine.snapshot, lazy=True),
                self._durables(rs),
                self.clock.now(),
                self.alive,
            )

    def _durables(self, rs: Running) -> list[Durable]:
        return [rs.dispatcher, *rs.actions.durable()]

    def guard(self, part: str, call: Callable[..., T], *args: Any) -> T | None:
        """The main loop's edge: a part that fails (a bug, a store error it did not expect) is
        logged and counted, and the loop goes on with the other parts and the watchdog."""
        try:
            return call(*args)
        except Exception:
            log.exception("part_failed", part=part)
            self.metrics.internal_errors.labels(part).inc()
            return None


def _by_state(listings: Sequence[Listing]) -> dict[str, int]:
    firing = sum(len(x.firing) for x in listings)
    return {"pending": sum(len(x.alerts) for x in listings) - firing, "firing": firing}


class _Firing(Container[str]):
    """The fingerprints of the firing alerts of these listings, gathered when first asked
    (the actions ask about the few alerts they hold state for, and seldom)."""

    __slots__ = ("_fingerprints", "_listings")

    def __init__(self, listings: Sequence[Listing]) -> None:
        self._listings = listings
        self._fingerprints: set[str] | None = None

    def __contains__(self, fingerprint: object) -> bool:
        if self._fingerprints is None:
            self._fingerprints = {a.fingerprint for x in self._listings for a in x.firing}
        return fingerprint in self._fingerprints
