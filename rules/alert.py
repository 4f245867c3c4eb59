"""Alert values and the transitions the engine emits: what the dispatcher and actions consume."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

State = Literal["inactive", "pending", "firing", "resolved"]


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable 16-hex-digit FNV-1a hash of the sorted label set (as Alertmanager's)."""
    return _fingerprint(tuple(sorted(labels.items())))


_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF


@functools.lru_cache(maxsize=4096)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    # The same bytes as hashing k, "\xff", v, "\xff" (each UTF-8 encoded) label by label:
    # UTF-8 of a concatenation is the concatenation of the UTF-8s.
    h = _FNV_OFFSET
    for b in "".join([k + "\xff" + v + "\xff" for k, v in items]).encode():
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    return f"{h:016x}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance (a rule + a label set) as of a transition."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: State
    value: float
    active_at: float  # epoch seconds: when it became pending
    fired_at: float | None = None
    resolved_at: float | None = None
    examples: tuple[str, ...] = ()  # last matching log lines (log rules)
    actions: tuple[str, ...] = ()  # action names the rule lists
    group: str = ""  # rule group name
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert changed state at `time` (pending, firing or resolved)."""

    time: float
    previous: State
    alert: Alert

    @property
    def state(self) -> State:
        return self.alert.state
