"""Fakes for tests and benches (shipped in the package, like structlog.testing): clocks, units,
and no-op position stores and collector stats."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any


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


class NullPositions:
    """A PositionStore that remembers nothing (benches: every run starts at the beginning)."""

    def load_positions(self, collector: str) -> dict[str, str]:
        return {}

    def save_positions(self, collector: str, positions: dict[str, str]) -> None:
        pass

    def delete_positions(self, collector: str, keys: Sequence[str]) -> None:
        pass


class NullStats:
    """CollectorStats that count nothing."""

    def dropped(self, collector: str, reason: str, count: int = 1) -> None:
        pass

    def up(self, collector: str, is_up: bool) -> None:
        pass


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
