"""Prometheus' HTTP API shapes for the engine's alerts and rules (`GET /api/v1/alerts`,
`GET /api/v1/rules`), field for field as Prometheus 2.42 serves them, so Grafana and other
Prometheus-API readers read alerter as a Prometheus:

    {"status": "success", "data": {"alerts": [{labels, annotations, state, activeAt, value}]}}
    {"status": "success", "data": {"groups": [{name, file, rules: [{state, name, query, duration,
        keepFiringFor, labels, annotations, alerts, health, lastError?, evaluationTime,
        lastEvaluation, type}], interval, limit, evaluationTime, lastEvaluation}]}}

`query` is the rule as alerter reads it (there is no PromQL); values are strings in Go's
strconv.FormatFloat(v, 'e', -1, 64), as Prometheus prints them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from alerter.notifiers.model import rfc3339
from alerter.rules.alert import Alert
from alerter.rules.model import Rule

# Go's zero time.Time, which Prometheus prints for a rule never evaluated
NEVER = "0001-01-01T00:00:00Z"


def go_float(v: float) -> str:
    """strconv.FormatFloat(v, 'e', -1, 64): the shortest digits, an exponent of 2+ digits."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0e+00" if math.copysign(1.0, v) < 0 else "0e+00"
    sign, digits, exp = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exp, int)
    text = "".join(map(str, digits))
    e = exp + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"


def seconds(v: float) -> float | int:
    """A duration as Go's float64 JSON prints it: 3600, not 3600.0."""
    return int(v) if float(v).is_integer() else v


def alert_view(a: Alert) -> dict[str, Any]:
    return {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "state": a.state,
        "activeAt": rfc3339(a.active_at),
        "value": go_float(a.value),
    }


def alerts_body(alerts: Iterable[Alert]) -> dict[str, Any]:
    live = [a for a in alerts if a.state in ("pending", "firing")]
    live.sort(key=lambda a: (a.group, a.alertname, a.fingerprint))
    return {"status": "success", "data": {"alerts": [alert_view(a) for a in live]}}


def query_text(rule: Rule) -> str:
    """The rule in one line, where Prometheus puts its PromQL expression."""
    if rule.logs is not None:
        sel = rule.logs
        parts = []
        if sel.sources:
            parts.append(f'source=~"{"|".join(sel.sources)}"')
        parts.extend(str(m) for m in sel.where)
        what = "logs{" + ", ".join(parts) + "}"
        if sel.match is not None:
            what += f" |~ {_quote(sel.match.pattern)}"
        if sel.exclude is not None:
            what += f" !~ {_quote(sel.exclude.pattern)}"
    elif rule.metric is not None:
        what = rule.metric.text
    else:
        what = "?"
    text = f"{rule.aggregate}({what}[{_duration(rule.over)}])"
    if rule.by:
        text = f"{rule.aggregate} by ({', '.join(rule.by)}) ({what}[{_duration(rule.over)}])"
    if rule.threshold is not None:
        text += f" {rule.threshold}"
    return text


def rules_body(
    groups: Sequence[Any], health: Sequence[Mapping[str, Any]], alerts: Iterable[Alert]
) -> dict[str, Any]:
    """`groups`: the config's rule groups; `health`: the engine's rule_health(), group by group
    and rule by rule in the same order; `alerts`: the engine's alerts."""
    by_rule: dict[tuple[str, str], list[Alert]] = {}
    for a in alerts:
        if a.state in ("pending", "firing"):
            by_rule.setdefault((a.group, a.alertname), []).append(a)
    seen = {h["name"]: h for h in health}
    out = []
    for g in groups:
        rules = getattr(g, "rules", ())
        if not rules:
            continue  # a group of log-derived metrics only: no alerting rules to show
        gh = seen.get(g.name, {})
        rh = list(gh.get("rules", ()))
        views = [
            _rule_view(r, _health_of(rh, i, r.alert), by_rule.get((g.name, r.alert), []))
            for i, r in enumerate(rules)
        ]
        out.append(
            {
                "name": g.name,
                "file": g.file,
                "rules": views,
                "interval": seconds(g.interval),
                "limit": 0,
                "evaluationTime": float(gh.get("evaluationTime") or 0.0),
                "lastEvaluation": gh.get("lastEvaluation") or NEVER,
            }
        )
    return {"status": "success", "data": {"groups": out}}


def _health_of(health: list[Mapping[str, Any]], i: int, name: str) -> Mapping[str, Any]:
    """The engine's entry for the i-th rule of a group (the same order), else the first of
    that name."""
    if i < len(health) and health[i].get("name") == name:
        return health[i]
    return next((h for h in health if h.get("name") == name), {})


def _rule_view(rule: Rule, h: Mapping[str, Any], alerts: list[Alert]) -> dict[str, Any]:
    alerts = sorted(alerts, key=lambda a: a.fingerprint)
    states = {a.state for a in alerts}
    view: dict[str, Any] = {
        "state": "firing" if "firing" in states else "pending" if states else "inactive",
        "name": rule.alert,
        "query": query_text(rule),
        "duration": seconds(rule.for_),
        "keepFiringFor": seconds(rule.keep_firing_for),
        "labels": {k: v for k, v in rule.labels.items() if k != "alertname"},
        "annotations": dict(rule.annotations),
        "alerts": [alert_view(a) for a in alerts],
        "health": "err" if h.get("lastError") else ("ok" if h.get("lastEvaluation") else "unknown"),
    }
    if h.get("lastError"):
        view["lastError"] = str(h["lastError"])
    view["evaluationTime"] = float(h.get("evaluationTime") or 0.0)
    view["lastEvaluation"] = h.get("lastEvaluation") or NEVER
    view["type"] = "alerting"
    return view


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _duration(v: float) -> str:
    s = int(v)
    if s != v or s <= 0:
        return f"{v:g}s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out
