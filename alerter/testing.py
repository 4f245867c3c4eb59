"""Fakes for tests and benches (shipped in the package, like structlog.testing): a clock, units,
a recording notifier, position stores and collector stats, a recording sink (the bus's side of
a collector), recording engine hooks, a free loopback port, and the real daemon run
in-process."""

from __future__ import annotations

import contextlib
import socket
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerter.core.events import Event, LogBatch, LogEvent, Sample

if TYPE_CHECKING:
    from alerter.runtime.daemon import Daemon
    from alerter.runtime.metrics import Metrics


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def set(self, now: float) -> None:
        """Move the wall clock to `now` (forward or back); the monotonic clock only forward,
        by as much as the wall clock moved forward."""
        with self._lock:
            self._mono += max(0.0, now - self._now)
            self._now = now


class FakeUnitController:
    """A `UnitController` that records every call and keeps unit properties in memory.

    `fail` maps a unit to the error message its operations raise (as ActionError).
    """

    def __init__(self, properties: dict[str, dict[str, str]] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.properties: dict[str, dict[str, str]] = properties or {}
        self.fail: dict[str, str] = {}
        self._lock = threading.Lock()

    def _check(self, unit: str) -> None:
        if unit in self.fail:
            from alerter.errors import ActionError

            raise ActionError(self.fail[unit])

    def operate(self, operation: str, unit: str) -> None:
        with self._lock:
            self.calls.append((operation, unit))
        self._check(unit)

    def set_properties(self, unit: str, properties: Mapping[str, str]) -> None:
        with self._lock:
            self.calls.append(("set-property", unit, *(f"{k}={v}" for k, v in properties.items())))
            self._check(unit)
            self.properties.setdefault(unit, {}).update(properties)

    def show(self, unit: str, properties: Sequence[str]) -> dict[str, str]:
        with self._lock:
            self.calls.append(("show", unit, *properties))
            have = self.properties.get(unit, {})
            return {p: have.get(p, "") for p in properties}

    def operations(self, unit: str | None = None) -> list[tuple[str, ...]]:
        """The calls that change something (not `show`), optionally for one unit."""
        with self._lock:
            return [c for c in self.calls if c[0] != "show" and (unit is None or c[1] == unit)]


class FakeFirewall:
    """A `Firewall` (alerter/actions/nft.py) in memory: elements with their end on `clock`.

    `calls` records (operation, address, ports, seconds); `fail` set to a message makes every
    call raise it as ActionError.
    """

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, str, tuple[int, ...], float]] = []
        self.ends: dict[tuple[str, tuple[int, ...]], float] = {}
        self.port_lists: set[tuple[int, ...]] = set()
        self.fail: str | None = None

    def _check(self) -> None:
        if self.fail is not None:
            from alerter.errors import ActionError

            raise ActionError(self.fail)

    def setup(self, port_lists: Any) -> None:
        self._check()
        self.port_lists |= {tuple(p) for p in port_lists}
        self.calls.append(("setup", "", (), 0.0))

    def add(self, address: Any, ports: Sequence[int], seconds: float) -> None:
        self._check()
        self.calls.append(("add", str(address), tuple(ports), seconds))
        self.ends[(str(address), tuple(ports))] = self.clock.now() + seconds

    def delete(self, address: Any, ports: Sequence[int]) -> None:
        self._check()
        self.calls.append(("delete", str(address), tuple(ports), 0.0))
        self.ends.pop((str(address), tuple(ports)), None)

    def restore(self, bans: Sequence[tuple[Any, Sequence[int], float]]) -> None:
        self._check()
        self.calls.append(("restore", "", (), float(len(bans))))
        for address, ports, seconds in bans:
            self.ends[(str(address), tuple(ports))] = self.clock.now() + seconds

    def banned(self) -> dict[str, float]:
        """Address -> seconds left, for the elements the kernel would still hold."""
        now = self.clock.now()
        return {a: end - now for (a, _), end in self.ends.items() if end > now}

    def elements(self) -> list[Any]:
        from alerter.actions.banaddr import parse_address
        from alerter.actions.nft import Element

        now = self.clock.now()
        return [
            Element(parse_address(a), p, end - now)
            for (a, p), end in self.ends.items()
            if end > now
        ]


class MemoryPositions:
    """A PositionStore in memory (a restart of a collector on the same object finds them)."""

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
    """CollectorStats that keep what they are told: drops by (collector, reason), up or not."""

    def __init__(self) -> None:
        self.drops: Counter[tuple[str, str]] = Counter()
        self.ups: dict[str, bool] = {}

    def dropped(self, collector: str, reason: str, count: int = 1) -> None:
        self.drops[(collector, reason)] += count

    def up(self, collector: str, is_up: bool) -> None:
        self.ups[collector] = is_up


class RecordingNotifier:
    """A Notifier that keeps what it is asked to send; set `fail_with` to make sends raise."""

    def __init__(self, name: str = "rec", send_resolved: bool = True) -> None:
        self.name = name
        self.send_resolved = send_resolved
        self.sent: list[Any] = []
        self.fail_with: Exception | None = None
        self._cond = threading.Condition()

    def send(self, notification: Any) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        with self._cond:
            self.sent.append(notification)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 5.0) -> list[Any]:
        """The notifications sent, once there are `count` (AssertionError at the timeout)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.sent) >= count, timeout)
        assert ok, f"expected {count} notifications, got {len(self.sent)}"
        return list(self.sent)


class RecordingSink:
    """Records what comes through either door (`events`: log events and samples, in order);
    acks at once unless `auto_ack` is False (then `ack_all()` does)."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.events: list[Event] = []
        self.batches = 0
        self.parse_errors = 0  # counted by the batches, once all their lines were parsed
        self.texts: list[str | None] = []  # the text each batch carries (None: lines only)
        self.backlogs: list[bool] = []  # each batch's `backlog`: read behind its input's end
        self.unacked: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
        with self.lock:
            self.texts.append(batch.block)  # (not joined by asking)
            self.backlogs.append(batch.backlog)
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


class RecordingHooks:
    """The engine's hooks (alerter.rules.enginehooks.EngineHooks), recording each report in order:
    template errors, evicted keys, evaluation durations, and late lines (`late`: too old for
    every rule of their source; `too_old`: too old for some rule, with the rules that missed
    them and whether their batch was a backlog's)."""

    def __init__(self) -> None:
        self.template_errors: list[tuple[str, str]] = []
        self.evicted: list[tuple[str, int, str]] = []
        self.durations: list[tuple[str, float]] = []
        self.uncounted: list[tuple[str, int, float]] = []  # (source, count, age of the newest)
        # (source, count, age of the newest, rules that missed it, backlog)
        self.too_old: list[tuple[str, int, float, tuple[tuple[str, float], ...], bool]] = []

    def template_error(self, group: str, message: str) -> None:
        self.template_errors.append((group, message))

    def key_evicted(self, alertname: str, count: int, reason: str) -> None:
        self.evicted.append((alertname, count, reason))

    def evaluation_duration(self, group: str, seconds: float) -> None:
        self.durations.append((group, seconds))

    def events_uncounted(self, source: str, count: int, age: float, now: float) -> None:
        self.uncounted.append((source, count, age))

    def events_too_old(
        self,
        source: str,
        count: int,
        age: float,
        now: float,
        missed: tuple[tuple[str, float], ...],
        backlog: bool = False,
    ) -> None:
        self.too_old.append((source, count, age, missed, backlog))

    def uncounted_counts(self) -> list[tuple[str, int]]:
        """(source, count) of each `events_uncounted` report."""
        return [(source, count) for source, count, _ in self.uncounted]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a server started next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_config(directory: Path, rules: str, rest: str) -> Path:
    """Write `rules` to rules.yaml and a config.yaml beside it: state dir `state`, the API on a
    free port of 127.0.0.1, rule_files [rules.yaml], then `rest` (collectors, notifiers, route;
    dedented). Returns the config's path, for `running_daemon`."""
    (directory / "rules.yaml").write_text(rules)
    cfg = directory / "config.yaml"
    cfg.write_text(
        'global: {state_dir: state}\nserver: {listen: "127.0.0.1:0"}\nrule_files: [rules.yaml]\n'
        + textwrap.dedent(rest)
    )
    return cfg


@contextlib.contextmanager
def running_daemon(
    config: str | Path,
    *,
    metrics: Metrics | None = None,
    ready_timeout: float = 20.0,
    stop_timeout: float = 15.0,
) -> Iterator[Daemon]:
    """The real daemon on this config, run in a thread of this process (no systemd: its
    notifications go nowhere), ready when yielded; stopped on exit, which fails if it does not
    end within `stop_timeout`."""
    from prometheus_client import CollectorRegistry

    from alerter.config.load import load_config
    from alerter.runtime.daemon import Daemon
    from alerter.runtime.metrics import Metrics
    from alerter.runtime.sdnotify import SystemdNotifier

    d = Daemon(
        str(config),
        load_config(str(config)),
        notifier=SystemdNotifier({}),
        metrics=metrics if metrics is not None else Metrics(CollectorRegistry()),
    )
    t = threading.Thread(target=d.run, name="daemon", daemon=True)
    t.start()
    try:
        if not d.ready.wait(ready_timeout):
            raise AssertionError(f"the daemon was not ready within {ready_timeout}s")
        yield d
    finally:
        d.request_stop()
        t.join(stop_timeout)
    if t.is_alive():
        raise AssertionError(f"the daemon did not stop within {stop_timeout}s")
