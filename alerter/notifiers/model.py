"""The notification value: what a group flush puts in the outbox and every notifier renders.

It is JSON round-trippable (`to_dict` / `from_dict`) because it is stored in the outbox before
it is sent, and rendered only at send time by the pure payload builders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json import dumps
from typing import Any, Literal

from alerter.rules.templates import format_value
from alerter.rules.templates import rfc3339 as rfc3339  # one definition, used by notifiers and API


def value_text(v: float) -> str:
    """An alert's value as a notification shows it: a whole number whole, another to 6
    digits, +Inf, -Inf and NaN as Prometheus writes them (int() of those raised, and the
    notification failed at every try, holding its lane)."""
    if not math.isfinite(v):
        return format_value(v)
    return str(int(v)) if v == int(v) else f"{v:g}"


Status = Literal["firing", "resolved"]
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for a firing alert


def labelset_str(labels: Mapping[str, str]) -> str:
    """Prometheus's LabelSet.String(): `{a="b", c="d"}`, sorted."""
    return (
        "{" + ", ".join(f"{k}={dumps(labels[k], ensure_ascii=False)}" for k in sorted(labels)) + "}"
    )


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` - 1 characters and an ellipsis (email subjects, PagerDuty
    summaries; Slack's own `truncate` also keeps its entities whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class NotifiedAlert:
    """One alert as it appears in a notification."""

    status: Status
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None  # None while firing
    fingerprint: str
    value: float = 0.0
    generator_url: str = ""
    examples: tuple[str, ...] = ()
    action_notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "fingerprint": self.fingerprint,
            "value": self.value,
            "generator_url": self.generator_url,
            "examples": list(self.examples),
            "action_notes": list(self.action_notes),
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> NotifiedAlert:
        return NotifiedAlert(
            status=d["status"],
            labels=dict(d["labels"]),
            annotations=dict(d["annotations"]),
            starts_at=float(d["starts_at"]),
            ends_at=d.get("ends_at"),
            fingerprint=d["fingerprint"],
            value=float(d.get("value", 0.0)),
            generator_url=d.get("generator_url", ""),
            examples=tuple(d.get("examples", ())),
            action_notes=tuple(d.get("action_notes", ())),
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """A group's alerts sent to one receiver at one flush."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[NotifiedAlert, ...]
    time: float  # when the group was flushed
    external_url: str = ""
    truncated_alerts: int = 0
    common_labels: Mapping[str, str] = field(init=False)
    common_annotations: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "common_labels", _common([a.labels for a in self.alerts]))
        object.__setattr__(
            self, "common_annotations", _common([a.annotations for a in self.alerts])
        )

    @property
    def status(self) -> Status:
        """firing if any alert of the group fires (Alertmanager's rule)."""
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def firing(self) -> list[NotifiedAlert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[NotifiedAlert]:
        return [a for a in self.alerts if a.status == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "alerts": [a.to_dict() for a in self.alerts],
            "time": self.time,
            "external_url": self.external_url,
            "truncated_alerts": self.truncated_alerts,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Notification:
        return Notification(
            receiver=d["receiver"],
            group_key=d["group_key"],
            group_labels=dict(d["group_labels"]),
            alerts=tuple(NotifiedAlert.from_dict(a) for a in d["alerts"]),
            time=float(d["time"]),
            external_url=d.get("external_url", ""),
            truncated_alerts=int(d.get("truncated_alerts", 0)),
        )


def _common(sets: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not sets:
        return {}
    out = dict(sets[0])
    for s in sets[1:]:
        out = {k: v for k, v in out.items() if s.get(k) == v}
    return out


def sample_notification() -> Notification:
    """Sample data for `alerter check` to render templates with."""
    t = 1_700_000_000.0
    firing = NotifiedAlert(
        "firing",
        {"alertname": "SSHBruteForce", "host": "web1", "ip": "192.0.2.7", "severity": "warning"},
        {"summary": "192.0.2.7 failed 5 SSH logins in 10m"},
        t,
        None,
        "0123456789abcdef",
        5.0,
        "http://localhost:9753/api/v1/alerts",
        ("sshd[1]: Failed password for root from 192.0.2.7",),
        ("ran ban at 12:03",),
    )
    resolved = NotifiedAlert(
        "resolved",
        {"alertname": "SSHBruteForce", "host": "web1", "ip": "192.0.2.8", "severity": "warning"},
        {"summary": "192.0.2.8 failed 6 SSH logins in 10m"},
        t - 600,
        t - 60,
        "fedcba9876543210",
        0.0,
    )
    return Notification(
        "sample",
        '{}:{alertname="SSHBruteForce"}',
        {"alertname": "SSHBruteForce"},
        (firing, resolved),
        t,
        "http://localhost:9753",
    )
