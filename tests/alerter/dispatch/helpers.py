"""Builders shared by the dispatch tests: alerts, transitions, configs, a recording notifier."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems, SourceError
from alerter.dispatch import NotificationDispatcher
from alerter.dispatch.config import InhibitRuleConfig, RouteConfig, parse_inhibit_rule, parse_route
from alerter.dispatch.lanes import Backoff
from alerter.dispatch.timeintervals import NONE, TimeIntervals
from alerter.notifiers.config import NotifierConfig, parse_notifier
from alerter.protocols import Clock, Notifier
from alerter.rules.alert import Alert, State, Transition
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

FAST = Backoff(initial=0.01, factor=1.5, cap=0.05, jitter=0.1)


def alert(state: State = "firing", t: float = 1_700_000_000.0, **labels: str) -> Alert:
    labels.setdefault("alertname", "HighLoad")
    return Alert(
        labels=labels,
        annotations={"summary": f"{labels['alertname']} is {state}"},
        state=state,
        value=5.0,
        active_at=t,
        fired_at=t if state != "pending" else None,
        resolved_at=t if state == "resolved" else None,
    )


def tr(a: Alert, previous: State = "pending") -> Transition:
    return Transition(a.active_at, previous, a)


def route(
    text: str, receivers: Sequence[str] = ("rec",), intervals: Sequence[str] = ()
) -> RouteConfig:
    p = Problems(env={})
    r = MapReader(load_yaml(text, "c.yaml"), p, "route")
    out = parse_route(r, receivers, r.mark, p, intervals)
    p.raise_if_any()
    return out


def inhibit(text: str) -> InhibitRuleConfig:
    p = Problems(env={})
    out = parse_inhibit_rule(MapReader(load_yaml(text, "c.yaml"), p, "inhibit_rules[0]"))
    p.raise_if_any()
    assert out is not None
    return out


def notifier_config(text: str, base_dir: Path = Path(".")) -> NotifierConfig:
    p = Problems(env={})
    out = parse_notifier(MapReader(load_yaml(text, "c.yaml"), p, "notifiers[0]"), base_dir)
    if p.items:
        raise SourceError(p.items)
    assert out is not None
    return out


def make_dispatcher(
    store: StateStore,
    clock: Clock,
    route_cfg: RouteConfig,
    notifiers: Mapping[str, Notifier],
    *,
    metrics: Metrics | None = None,
    inhibit_rules: Sequence[InhibitRuleConfig] = (),
    configs: Mapping[str, NotifierConfig] | None = None,
    notes: Callable[[str], list[str]] = lambda fp: [],
    own_commits: bool = True,
    time_intervals: TimeIntervals = NONE,
) -> NotificationDispatcher:
    configs = dict(configs or {})
    pairs = {
        name: (configs.get(name) or notifier_config(f"{{name: {name}, type: console}}"), n)
        for name, n in notifiers.items()
    }
    return NotificationDispatcher(
        route=route_cfg,
        inhibit_rules=inhibit_rules,
        notifiers=pairs,
        store=store,
        metrics=metrics or Metrics(CollectorRegistry()),
        clock=clock,
        action_notes=notes,
        external_url="http://alerter.test:9753",
        backoff=FAST,
        own_commits=own_commits,
        time_intervals=time_intervals,
    )
