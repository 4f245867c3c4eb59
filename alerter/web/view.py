"""What the web page shows, read from the daemon's parts: plain dicts for the templates.

Alerts are the engine's (pending and firing) plus any the dispatcher holds as firing that the
engine does not (raised by actions), each with its silenced/inhibited status and the groups
its routes put it in; silences and routes are the dispatcher's, actions and bans the action
runner's, rules the engine's health (as `/api/v1/rules` serves it), collectors the
self-metrics. Nothing here escapes text: the templates do (autoescape).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import heapq
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring as json_string  # json.dumps(s, ensure_ascii=False)
from typing import Any, Protocol

from alerter import __version__
from alerter.api import prometheus
from alerter.protocols import Clock
from alerter.rules.alert import Alert, Listing
from alerter.runtime.metrics import Metrics

TOP_KEYS = 5  # values shown per rule
RECENT_ACTIONS = 50
MAX_EXAMPLES = 3
BLOCK = 64  # alerts in a block of the page, about
# Alerts a group shows at most (firing first, then by name and fingerprint); the others are
# counted. 100,000 alerts took 17 s to render into a 26 MiB page no browser lays out well.
MAX_CARDS = 2000


class Source(Protocol):
    """What the page reads of the daemon (alerter.runtime.daemon.Daemon has it all)."""

    @property
    def run_state(self) -> Any:
        """alerter.runtime.running.Running (dispatcher, actions, config), or None."""

    @property
    def metrics(self) -> Metrics: ...

    @property
    def clock(self) -> Clock: ...

    def alerts(self) -> list[Alert]: ...

    def listings(self) -> list[Listing]:
        """Each rule's alerts: a rule's Listing is the same object while none changed."""

    def rule_groups(self) -> Sequence[Any]: ...

    def rule_health(self) -> list[dict[str, Any]]: ...

    def status(self) -> dict[str, Any]: ...


def when(t: float | None) -> str:
    """Epoch seconds as the page prints them: UTC to the second."""
    if t is None:
        return ""
    return _when(int(t))


@functools.lru_cache(maxsize=4096)
def _when(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso_when(text: str | None) -> str:
    """An RFC 3339 time from the APIs, as `when` prints it ("" for none or Go's zero time)."""
    if not text or text.startswith("0001-"):
        return ""
    try:
        return when(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return text


def number(v: float) -> str:
    return f"{v:g}"


class Rates:
    """Lines per second per collector, from the events counter between two page reads at
    least a second apart (the last rate is kept in between), and when the page last saw the
    count grow."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, float]] = {}
        self._rate: dict[str, float] = {}
        self._total: dict[str, float] = {}
        self._grew: dict[str, float] = {}

    def update(self, totals: Mapping[str, float], mono: float) -> dict[str, float]:
        with self._lock:
            for name, total in totals.items():
                if name in self._total and total > self._total[name]:
                    self._grew[name] = mono
                self._total[name] = total
                prev = self._last.get(name)
                if prev is None:
                    self._last[name] = (mono, total)
                elif mono - prev[0] >= 1.0:
                    self._rate[name] = max(0.0, total - prev[1]) / (mono - prev[0])
                    self._last[name] = (mono, total)
            return dict(self._rate)

    def quiet_for(self, name: str, mono: float) -> float | None:
        """Seconds since the page saw this collector's count grow; None if it has not."""
        with self._lock:
            grew = self._grew.get(name)
            return None if grew is None else mono - grew


def alert_groups(src: Source, now: float) -> list[dict[str, Any]]:
    """The alerts by route group (route, receiver, group labels), as the dispatcher groups
    them; an alert no route takes (no dispatcher) is in one group of its own kind."""
    from alerter.dispatch.dispatcher import NotificationDispatcher
    from alerter.dispatch.routing import group_labels

    rs = src.run_state
    dispatcher = rs.dispatcher if rs is not None else None
    routed = dispatcher if isinstance(dispatcher, NotificationDispatcher) else None
    alerts = list(src.alerts())
    if dispatcher is not None:
        seen = {a.fingerprint for a in alerts}
        alerts += [a for a in dispatcher.firing() if a.fingerprint not in seen]
    taken = _actions_by_alert(rs)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    placed: set[str] = set()
    for a in sorted(alerts, key=lambda a: (a.state != "firing", a.alertname, a.fingerprint)):
        routes: list[Any] = (routed.routes_for(a.labels) if routed else []) or [None]
        view: dict[str, Any] | None = None  # its card, made once it is shown
        for r in routes:
            labels = group_labels(r, a.labels) if r is not None else {}
            receiver = r.receiver if r is not None else ""
            key = (r.id if r is not None else "", receiver, tuple(sorted(labels.items())))
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"labels": labels, "receiver": receiver, "alerts": []}
                g.update(firing=0, pending=0, hidden=0)
            g["firing" if a.state == "firing" else "pending"] += 1
            if len(g["alerts"]) >= MAX_CARDS:
                g["hidden"] += 1
                continue
            if view is None:
                status = routed.status(a, now) if routed else {"silencedBy": [], "inhibitedBy": []}
                view = alert_card(a, status, taken.get(a.fingerprint, []))
            # an alert in several groups (continue: true) is anchored in the first one only
            g["alerts"].append({**view, "anchor": a.fingerprint not in placed})
            placed.add(a.fingerprint)
    out = [groups[k] for k in sorted(groups)]
    for k, g in zip(sorted(groups), out, strict=True):
        g["id"] = "group-" + _hash(k)
        g["blocks"] = blocks(g["id"], g["alerts"])
    return out


def blocks(group_id: str, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A group's alerts (sorted by state, name, fingerprint) cut into blocks of at most about
    BLOCK alerts: the page lays out and observes a block offscreen as one box, and a block's
    bounds do not move when an alert comes or goes (cut by state, name and the first hex
    digits of the fingerprint, as many as a run of that state and name needs), so a live
    update changes the one block the alert is in."""
    runs = Counter((a["state"], a["alertname"]) for a in alerts)
    digits = {run: next(d for d in range(16) if BLOCK * 16**d >= n) for run, n in runs.items()}
    out: list[dict[str, Any]] = []
    last: tuple[str, str, str] | None = None
    for a in alerts:
        run = (a["state"], a["alertname"])
        key = (*run, a["fingerprint"][: digits[run]])
        if key != last:
            out.append({"id": f"{group_id}-{_hash(key)[:8]}", "alerts": []})
            last = key
        out[-1]["alerts"].append(a)
    for b in out:  # its height before it is first shown: a size class by count
        b["size"] = next(c for c in (1, 4, 16, 64, 256) if len(b["alerts"]) <= c or c == 256)
    return out


def _hash(key: Any) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:12]


def alerts_token(src: Source, now: float) -> tuple[Any, ...]:
    """What the alerts section depends on, cheap to read: the same token, the same section
    (alerts, their values and lines, the silences in force, the actions taken)."""
    rs = src.run_state
    d = rs.dispatcher if rs is not None else None
    silences = getattr(d, "silences", None)
    history = _history(rs, 1)
    return (
        # a Listing that is the same object compares at once: the token costs what changed, and
        # the cache that keeps it keeps its listings (no id is reused while it is compared)
        tuple(src.listings()),
        _held_firing(d),
        tuple((s.id, s.state(now), s.ends_at) for s in silences.all()) if silences else (),
        history[0].get("id") if history else None,
    )


def _held_firing(d: Any) -> Any:
    """What tells the dispatcher's firing alerts changed (the page shows those the engine
    does not have): its version, not every fingerprint sorted at each poll."""
    from alerter.dispatch.dispatcher import NotificationDispatcher

    if isinstance(d, NotificationDispatcher):
        return d.firing_version
    return tuple(sorted(a.fingerprint for a in d.firing())) if d is not None else ()


def alert_card(a: Alert, status: Mapping[str, Any], actions: list[str]) -> dict[str, Any]:
    """One alert as the page shows it (its card): not the Prometheus API's alert view."""
    since = a.fired_at if a.state == "firing" and a.fired_at is not None else a.active_at
    return {
        "fingerprint": a.fingerprint,
        "alertname": a.alertname,
        "state": a.state,
        "labels": labels_text(a.labels),
        "summary": a.annotations.get("summary") or a.annotations.get("description", ""),
        "value": number(a.value),
        "since": when(since),
        "active_at": when(a.active_at),
        "examples": list(a.examples[-MAX_EXAMPLES:]),
        "actions": actions,
        "silenced_by": list(status.get("silencedBy", ())),
        "inhibited_by": list(status.get("inhibitedBy", ())),
    }


def labels_text(labels: Mapping[str, str]) -> str:
    """The labels but alertname as one line, `name="value"` with the value quoted as JSON: one
    text node on the page, which the silence form reads back (name, then a JSON string)."""
    return " ".join(f"{k}={_json_text(v)}" for k, v in sorted(labels.items()) if k != "alertname")


def _json_text(value: str) -> str:
    """The value as a JSON string whose characters are all printable: bidi overrides and other
    format characters written as JSON escapes (`\\u202e`), which the silence form reads back."""
    text = json_string(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)


def _actions_by_alert(rs: Any) -> dict[str, list[str]]:
    """What the actions did for each alert, newest first (from the recent history)."""
    out: dict[str, list[str]] = {}
    for rec in _history(rs, 500):
        text = f"{rec['action']} {rec['target']}: {rec['outcome']}".strip()
        out.setdefault(str(rec.get("fingerprint") or ""), []).append(text)
    return out


def _history(rs: Any, limit: int) -> list[dict[str, Any]]:
    actions = rs.actions if rs is not None else None
    history = getattr(actions, "history", None)
    if history is None:
        return []
    try:
        return list(history(None, limit=limit))
    except TypeError:  # an Actions without the limit (the protocol's own signature)
        return list(history(None))[:limit]


def silences(src: Source, now: float) -> list[dict[str, Any]]:
    from alerter.dispatch.dispatcher import NotificationDispatcher

    rs = src.run_state
    d = rs.dispatcher if rs is not None else None
    if not isinstance(d, NotificationDispatcher):
        return []
    order = {"active": 0, "pending": 1, "expired": 2}
    out: list[dict[str, Any]] = []
    keys: list[tuple[int, float]] = []
    for s in d.silences.all():
        state = s.state(now)
        out.append(
            {
                "id": s.id,
                "state": state,
                "matchers": [str(m) for m in s.matchers],
                "starts": when(s.starts_at),
                "ends": when(s.ends_at),
                "by": s.created_by,
                "comment": s.comment,
            }
        )
        keys.append((order[state], s.ends_at if state != "expired" else -s.ends_at))
    out = [v for _, v in sorted(zip(keys, out, strict=True), key=lambda kv: kv[0])]
    return out


def rules(src: Source) -> list[dict[str, Any]]:
    """Rule groups as /api/v1/rules serves them, each rule with its top keys by value (only
    those are put in the API's view: a storm's 100,000 alerts were each made into one)."""
    of_rule: dict[tuple[str, str], list[Alert]] = {}
    for a in src.alerts():
        if a.state in ("pending", "firing"):
            of_rule.setdefault((a.group, a.alertname), []).append(a)
    tops = [a for al in of_rule.values() for a in heapq.nlargest(TOP_KEYS, al, key=_value)]
    body = prometheus.rules_body(src.rule_groups(), src.rule_health(), tops)
    by_rule = {
        (g.name, r.alert): tuple(getattr(r, "by", ()) or ())
        for g in src.rule_groups()
        for r in getattr(g, "rules", ())
    }
    out = []
    for g in body["data"]["groups"]:
        views = []
        for r in g["rules"]:
            by = by_rule.get((g["name"], r["name"]), ())
            top = sorted(r["alerts"], key=lambda a: -float(a["value"]))[:TOP_KEYS]
            mine = of_rule.get((g["name"], r["name"]), [])
            state = r["state"] if not any(a.state == "firing" for a in mine) else "firing"
            views.append(
                {
                    "name": r["name"],
                    "state": state,
                    "health": r["health"],
                    "error": r.get("lastError", ""),
                    "last": iso_when(r["lastEvaluation"]),
                    "query": r["query"],
                    "alerts": len(mine),
                    "top": [
                        {
                            "key": ", ".join(f"{k}={a['labels'].get(k, '')}" for k in by)
                            or "(all)",
                            "value": number(float(a["value"])),
                            "state": a["state"],
                        }
                        for a in top
                    ],
                }
            )
        out.append({"name": g["name"], "file": g["file"], "rules": views})
    return out


def _value(a: Alert) -> float:
    return float(a.value)


def _late_hint(late: Mapping[str, Any]) -> str:
    """Which rules a collector's live lines are too old for, and what to check."""
    rules = late.get("too_old_for")
    return f"too old for {rules}: {late['hint']}" if rules else str(late["hint"])


def collectors(
    src: Source, rates: Rates, status: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each collector's state; `status`: the daemon's, when the caller has it already (its
    `late_lines`: collectors whose live lines keep arriving too old for a rule)."""
    m = src.metrics
    rs = src.run_state
    names = [c.name for c in rs.config.collectors] if rs is not None else []
    up = _by_label(m.collector_up.collect(), "alerter_collector_up")
    totals = _by_label(m.events.collect(), "alerter_events_total")
    late = _by_label(m.events_late.collect(), "alerter_events_late_total")
    lag = _by_label(m.collector_lag.collect(), "alerter_collector_lag_seconds")
    dropped: dict[str, dict[str, float]] = {}
    for fam in m.events_dropped.collect():
        for s in fam.samples:
            if s.name == "alerter_events_dropped_total" and s.value:
                c = s.labels["collector"]
                dropped.setdefault(c, {})[s.labels["reason"]] = s.value
    live_late = (status if status is not None else src.status()).get("late_lines") or {}
    mono = time.monotonic()
    rate = rates.update({n: totals.get(n, 0.0) for n in names}, mono)
    return [
        {
            "name": n,
            "up": up.get(n, 0.0) >= 1,
            "lines": int(totals.get(n, 0.0)),
            "rate": f"{rate[n]:.1f}" if n in rate else "",
            "late": int(late.get(n, 0.0)),
            "late_hint": _late_hint(live_late[n]) if n in live_late else "",
            "lag": f"{lag[n]:.2f} s" if n in lag else "",
            "quiet": _quiet(rates.quiet_for(n, mono)),
            "dropped": sorted((r, int(v)) for r, v in dropped.get(n, {}).items()),
        }
        for n in names
    ]


def _quiet(seconds: float | None) -> str:
    """How long ago a collector last delivered lines, to the second ("" before the page knows)."""
    if seconds is None:
        return ""
    return "now" if seconds < 1 else f"{_uptime(seconds)} ago"


def _by_label(families: Iterable[Any], name: str) -> dict[str, float]:
    return {s.labels["collector"]: s.value for f in families for s in f.samples if s.name == name}


def recent_actions(src: Source) -> list[dict[str, Any]]:
    return [
        {**rec, "time": iso_when(rec.get("time"))}
        for rec in _history(src.run_state, RECENT_ACTIONS)
    ]


def bans(src: Source, now: float) -> list[dict[str, Any]] | None:
    """Bans in force, or None when no ban action is configured (no /api/v1/bans)."""
    from alerter.actions.bans import BanExecutor

    rs = src.run_state
    executors = getattr(rs.actions, "executors", {}) if rs is not None else {}
    ban = executors.get("ban") if isinstance(executors, Mapping) else None
    if not isinstance(ban, BanExecutor):
        return None
    return [
        {
            **b.to_json(now),
            "since": when(b.time),
            "until": when(b.until),
            "ports": ", ".join(map(str, b.ports)) or "all",
        }
        for b in ban.book.in_force(now)
    ]


def header(src: Source, status: Mapping[str, Any] | None = None) -> dict[str, Any]:
    s = status if status is not None else src.status()
    return {
        "version": __version__,
        "uptime": _uptime(float(s.get("uptime_seconds") or 0)),
        "firing": s["alerts"]["firing"],
        "pending": s["alerts"]["pending"],
        "dry_run": bool(s.get("dry_run")),
        "reload_error": s.get("last_reload_error") or "",
        "state_error": (s.get("state") or {}).get("error") or "",
        "backlog": s.get("bus_length", 0),
    }


def _uptime(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m {s}s"
