"""Build an engine from rule YAML and feed it test events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alerter.core.events import LogBatch, LogEvent, Sample
from alerter.rules.alert import Transition
from alerter.rules.engine import Engine
from alerter.rules.enginehooks import EngineHooks
from alerter.rules.loader import load_rule_files
from alerter.rules.plans import BulkValues, ConnectionScan, Fieldless, Plan


def engine(
    rules_yaml: str,
    labels: Mapping[str, str] | None = None,
    hooks: EngineHooks | None = None,
    interval: float = 15,
) -> Engine:
    rs = load_rule_files([("t.yaml", rules_yaml)], default_interval=interval)
    return Engine(rs, labels or {}, hooks)


def log(
    e: Engine, t: float, line: str, source: str = "app", fields: Mapping[str, str] | None = None
) -> list[Transition]:
    return logs(e, t, [LogEvent(t, source, line, fields or {})])


def logs(e: Engine, t: float, events: Sequence[LogEvent]) -> list[Transition]:
    """Feed log events built already (all of one source) at t, as one batch."""
    return e.process(LogBatch.of_events(events[0].source, t, events), t)


def sample(e: Engine, t: float, name: str, value: float, **labels: str) -> list[Transition]:
    e.process_samples([Sample(t, "m", name, labels, value)], t)
    return []


def states(ts: list[Transition]) -> list[tuple[str, str]]:
    return [(t.alert.alertname, t.state) for t in ts]


def plan_kinds(e: Engine) -> set[type[Plan]]:
    """The plan kinds (rules/plans/) the engine's log rules run: each rule's plan and the
    plans it holds (a fallback, a Fieldless plan's two)."""
    kinds: set[type[Plan]] = set()
    todo: list[Plan] = [r.plan for r in e._log_rules]
    while todo:
        p = todo.pop()
        kinds.add(type(p))
        if isinstance(p, BulkValues | ConnectionScan):
            todo.append(p.fallback)
        elif isinstance(p, Fieldless):
            todo += [p.fast, p.slow]
    return kinds


def rule(body: str, interval: str = "15s") -> str:
    """A rule file of one group (`interval`) holding one rule `A` whose body is `body`."""
    lines = body.strip().splitlines()
    return (
        "groups:\n  - name: g\n    interval: "
        + interval
        + "\n    rules:\n      - alert: A\n"
        + "\n".join("        " + ln for ln in lines)
        + "\n"
    )


def values(e: Engine) -> dict[tuple[tuple[str, str], ...], float]:
    """Each alert's value by its labels but alertname."""
    return {
        tuple(sorted((k, v) for k, v in a.labels.items() if k != "alertname")): a.value
        for a in e.alerts()
    }
