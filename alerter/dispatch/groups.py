"""Aggregation groups: Alertmanager's timers and its notification-log decision, per group.

A group is one route + one set of group labels. It is flushed `group_wait` after it is
created, then every `group_interval`; a flush notifies only when there are firing alerts the
receiver has not been told about, newly resolved ones (with send_resolved), everything
resolved after firing was sent, or `repeat_interval` has passed (dispatch/dispatch.go and
notify/notify.go DedupStage). State is JSON-able so it survives a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerter.notifiers.model import Notification, NotifiedAlert, labelset_str
from alerter.rules.alert import Alert

# A group with no group_interval (an Alertmanager receiver's: pushed at once on a change) is
# otherwise looked at this often, for what changes without a transition: a silence that
# ended, an inhibiting alert that resolved, the resend. Every dispatcher tick (0.1 s) cost
# 13% of a core with 2000 such groups.
RECHECK = 1.0


@dataclass(frozen=True, slots=True)
class Timing:
    group_wait: float
    group_interval: float
    repeat_interval: float


NOTHING: frozenset[str] = frozenset()  # one empty set for every entry (216 bytes each)


def _set(fingerprints: Iterable[str]) -> frozenset[str]:
    return frozenset(fingerprints) or NOTHING


@dataclass(frozen=True, slots=True)
class SentEntry:
    """What the receiver was last told about this group (Alertmanager's nflog entry)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    time: float


def needs_update(
    entry: SentEntry | None,
    firing: set[str],
    resolved: set[str],
    send_resolved: bool,
    repeat: float,
    now: float,
) -> bool:
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        # Everything resolved: tell the receiver (or at least clear the log) if it was
        # told about firing alerts; otherwise they fired and resolved unseen.
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.time <= now - repeat


@dataclass(slots=True)
class AggregationGroup:
    """Alertmanager's aggregation group (aggrGroup): one route's alerts with equal group labels,
    notified together (not a rule group: that is alerter.rules.model.Group)."""

    route_id: str
    route_key: str
    receiver: str
    labels: dict[str, str]
    timing: Timing
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    sent: SentEntry | None = None
    flushed: bool = False

    def add(self, alert: Alert, now: float) -> None:
        """Insert or update an alert. Before the first flush, an alert that started more than
        group_wait ago flushes the group at once (Alertmanager's aggrGroup.insert); with no
        group_interval (an Alertmanager receiver's), every change does."""
        self.alerts[alert.fingerprint] = alert
        start = alert.fired_at if alert.fired_at is not None else alert.active_at
        late = not self.flushed and start + self.timing.group_wait < now
        if late or self.timing.group_interval == 0:
            self.next_flush = min(self.next_flush, now)

    @property
    def key(self) -> str:
        """Alertmanager's groupKey: `{route key}:{group labels}`."""
        return f"{self.route_key}:{labelset_str(self.labels)}"

    def flush(
        self,
        now: float,
        muted: Callable[[Alert], bool],
        send_resolved: bool,
        render: Callable[[Alert], NotifiedAlert],
        external_url: str,
        *,
        route_muted: bool = False,
    ) -> Notification | None:
        """Decide at a flush; returns what to send (or None) and advances the group's state.

        `route_muted`: the route is in a mute time interval, or outside its active ones. As in
        Alertmanager, nothing is sent and the notification log is left as it was (the first
        flush after the interval tells the receiver), but resolved alerts still leave."""
        self.next_flush = now + (self.timing.group_interval or RECHECK)  # after `now`, always
        self.flushed = True
        if route_muted:
            for fp in [fp for fp, a in self.alerts.items() if a.state != "firing"]:
                del self.alerts[fp]
            return None
        visible = [a for a in self.alerts.values() if not muted(a)]
        firing = {a.fingerprint for a in visible if a.state == "firing"}
        resolved = {a.fingerprint for a in visible if a.state != "firing"}
        out: Notification | None = None
        if needs_update(
            self.sent, firing, resolved, send_resolved, self.timing.repeat_interval, now
        ):
            self.sent = SentEntry(_set(firing), _set(resolved), now)
            chosen = [a for a in visible if a.state == "firing" or send_resolved]
            chosen.sort(key=lambda a: (a.state != "firing", a.active_at, a.fingerprint))
            if chosen:
                out = Notification(
                    receiver=self.receiver,
                    group_key=self.key,
                    group_labels=dict(self.labels),
                    alerts=tuple(render(a) for a in chosen),
                    time=now,
                    external_url=external_url,
                )
        # Resolved alerts leave the group at every flush, as in Alertmanager.
        for fp in [fp for fp, a in self.alerts.items() if a.state != "firing"]:
            del self.alerts[fp]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "route_key": self.route_key,
            "receiver": self.receiver,
            "labels": self.labels,
            "next_flush": self.next_flush,
            "flushed": self.flushed,
            "alerts": {fp: a.to_dict() for fp, a in self.alerts.items()},
            "sent": None
            if self.sent is None
            else {
                "firing": sorted(self.sent.firing),
                "resolved": sorted(self.sent.resolved),
                "time": self.sent.time,
            },
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any], timing: Timing) -> AggregationGroup:
        s = d.get("sent")
        return AggregationGroup(
            route_id=d["route_id"],
            route_key=d["route_key"],
            receiver=d["receiver"],
            labels=dict(d["labels"]),
            timing=timing,
            next_flush=float(d["next_flush"]),
            flushed=bool(d.get("flushed", True)),
            alerts={fp: Alert.from_dict(a) for fp, a in d["alerts"].items()},
            sent=None
            if s is None
            else SentEntry(_set(s["firing"]), _set(s["resolved"]), s["time"]),
        )
