"""How the action history reads in notifications: note lines, and the synthetic alerts
("remediation exhausted", "remediation ineffective") that the runner sends to the dispatcher.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from alerter.actions.banconfig import BanSpec
from alerter.actions.bans import REFUSED_ALLOWED, REFUSED_CAP, SKIPPED_BANNED
from alerter.actions.config import ActionConfig
from alerter.actions.executors import phrases
from alerter.actions.history import (
    DRY_RUN,
    FAILED,
    INTERRUPTED,
    OK,
    RUNNING,
    SKIPPED_LIMIT,
    UNDO_PREFIX,
    Record,
)
from alerter.core.values import format_duration
from alerter.rules.alert import Alert, Transition

BAN_REFUSALS = {SKIPPED_BANNED: "already ", REFUSED_ALLOWED: "", REFUSED_CAP: ""}
EXHAUSTED = "RemediationExhausted"
INEFFECTIVE = "RemediationIneffective"
SYNTHETIC_GROUP = "alerter.actions"


def clock_time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M UTC")


def span(seconds: float) -> str:
    """'hour', '30m': how 'in the last ...' reads."""
    words = {3600.0: "hour", 86400.0: "day", 60.0: "minute"}
    return words.get(seconds, format_duration(seconds))


def note(record: Record, action: ActionConfig | None, runs_in_window: int | None) -> str:
    """One line for a notification: 'restarted web.service at 12:03 UTC, 2 of 3 in the last hour'.

    `runs_in_window`: the runs counted against the limit up to this one; None leaves it out.
    """
    at = clock_time(record.time)
    if action is None:
        return f"{record.action} on {record.target}: {record.outcome} at {at}"
    undo = record.outcome.startswith(UNDO_PREFIX)
    done, todo = phrases(action, record.target, undo=undo)
    budget = (
        ""
        if undo or runs_in_window is None
        else (f", {runs_in_window} of {action.limit.count} in the last {span(action.limit.within)}")
    )
    outcome = record.outcome.removeprefix(UNDO_PREFIX) if undo else record.outcome
    if isinstance(action.spec, BanSpec) and outcome in (OK, RUNNING, DRY_RUN):
        # the detail is the decision: 'banned 203.0.113.7 for 20m, 2nd ban in 24h'
        head, _, count = record.detail.partition(", ")
        tail = {OK: "", RUNNING: " (in progress)", DRY_RUN: " (dry run)"}[outcome]
        return f"{head} at {at}" + (f", {count}" if count else "") + tail
    if isinstance(action.spec, BanSpec) and outcome in BAN_REFUSALS and record.detail:
        # 'did not ban 127.0.0.1 at 12:03 UTC: 127.0.0.1 is never banned (loopback)'
        return f"did not {todo} at {at}: {BAN_REFUSALS[outcome]}{record.detail}"
    if outcome == OK:
        return f"{done} at {at}{budget}"
    if outcome == RUNNING:
        return f"{done} at {at} (in progress){budget}"
    if outcome == DRY_RUN:
        return f"would {todo} at {at} (dry run){budget}"
    if outcome == INTERRUPTED:
        why = record.detail.removeprefix(f"{done}: ")
        return f"{todo} at {at} was interrupted ({why}){budget}"
    if outcome == FAILED:
        return f"failed to {todo} at {at}: {record.detail}"
    if outcome == SKIPPED_LIMIT:
        return f"did not {todo} at {at}: remediation exhausted ({record.detail})"
    reason = outcome.replace("_", " ")
    return f"did not {todo} at {at}: {reason}" + (f" ({record.detail})" if record.detail else "")


def synthetic_alert(
    kind: str,
    source: Alert,
    action: ActionConfig,
    target: str,
    summary: str,
    description: str,
    now: float,
    dry_run: bool = False,
) -> Alert:
    """An alert alerter raises about its own remediation; it carries no actions (no loops).

    In dry run it says so, and carries `dry_run="true"` so a route can keep it from paging.
    """
    labels = {k: v for k, v in source.labels.items() if k not in ("alertname", "severity")}
    if dry_run:
        labels["dry_run"] = "true"
        summary = f"{summary} (dry run)"
    labels.update(
        {
            "alertname": kind,
            "severity": "critical",
            "action": action.name,
            "action_target": target,
            "source_alertname": source.alertname,
        }
    )
    return Alert(
        labels=labels,
        annotations={"summary": summary, "description": description},
        state="firing",
        value=0.0,
        active_at=now,
        fired_at=now,
        group=SYNTHETIC_GROUP,
    )


def firing(alert: Alert, now: float) -> Transition:
    return Transition(time=now, previous="inactive", alert=alert)


def resolved(alert: Alert, now: float) -> Transition:
    from dataclasses import replace

    return Transition(
        time=now, previous="firing", alert=replace(alert, state="resolved", resolved_at=now)
    )


def stored_alert(data: Mapping[str, object]) -> Alert:
    """An alert the escalation state holds (written with Alert.to_dict). Entries written by
    0.1.0 hold only labels, annotations and active_at: read as the firing alert they stood for."""
    if "state" in data:
        return Alert.from_dict(data)
    labels = data.get("labels")
    annotations = data.get("annotations")
    active_at = data.get("active_at")
    return Alert(
        labels=dict(labels) if isinstance(labels, dict) else {},
        annotations=dict(annotations) if isinstance(annotations, dict) else {},
        state="firing",
        value=0.0,
        active_at=float(active_at) if isinstance(active_at, (int, float)) else 0.0,
        fired_at=float(active_at) if isinstance(active_at, (int, float)) else 0.0,
        group=SYNTHETIC_GROUP,
    )
