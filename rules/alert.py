"""Alert values and the transitions the engine emits: what the dispatcher and actions consume."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["inactive", "pending", "firing", "resolved"]


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of the label set (prometheus/common model.LabelSet.Fingerprint):
    FNV-1a 64 over name, the byte 0xff, value, 0xff for each label sorted by name; 16 hex digits."""
    return _fingerprint(tuple(sorted(labels.items())))


_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF
_SEP = b"\xff"  # ONE byte (Go's model.SeparatorByte), not the UTF-8 encoding of U+00FF


@functools.lru_cache(maxsize=4096)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    h = _FNV_OFFSET
    data = b"".join(k.encode() + _SEP + v.encode() + _SEP for k, v in items)
    for b in data:
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

    def to_dict(self) -> dict[str, Any]:
        """The alert as alerter stores it (dispatcher groups, escalation state): JSON-able, times
        in epoch seconds. Every outward shape is built elsewhere, from the alert itself."""
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "state": self.state,
            "value": self.value,
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "examples": list(self.examples),
            "actions": list(self.actions),
            "group": self.group,
            "fingerprint": self.fingerprint,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Alert:
        return Alert(
            labels=dict(d["labels"]),
            annotations=dict(d["annotations"]),
            state=d["state"],
            value=float(d["value"]),
            active_at=float(d["active_at"]),
            fired_at=d.get("fired_at"),
            resolved_at=d.get("resolved_at"),
            examples=tuple(d.get("examples", ())),
            actions=tuple(d.get("actions", ())),
            group=d.get("group", ""),
            # recomputed from the labels, not read back: 0.1.0 hashed the 0xff
            # separator as two bytes, and the engine's alerts carry the corrected fingerprint
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert changed state at `time` (pending, firing or resolved)."""

    time: float
    previous: State
    alert: Alert

    @property
    def state(self) -> State:
        return self.alert.state


@dataclass(frozen=True, slots=True)
class Listing:
    """One rule's pending and firing alerts as listed (alerter.rules.state.AlertTable.listing):
    the same object while none of them changed, which is how a reader tells what changed."""

    alertname: str
    actions: tuple[str, ...]  # (every alert of the rule lists the same)
    alerts: tuple[Alert, ...]
    firing: tuple[Alert, ...]  # those of `alerts` that fire

    @property
    def pending(self) -> int:
        return len(self.alerts) - len(self.firing)
