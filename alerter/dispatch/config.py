"""Parse `route:` and `inhibit_rules:`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rules.matchers import Matcher
from rules.yamlsource import MapReader, Mark, Problems


@dataclass(frozen=True, slots=True)
class RouteConfig:
    receiver: str
    group_by: tuple[str, ...] = ("alertname",)
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[RouteConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class InhibitRuleConfig:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]


def parse_route(
    r: MapReader | None, notifier_names: Sequence[str], mark: Mark, p: Problems
) -> RouteConfig:
    default = notifier_names[0] if notifier_names else "console"
    if r is None:
        return RouteConfig(receiver=default)
    receiver = r.str("receiver", default)
    r.done(extra_known=("group_by", "group_wait", "group_interval", "repeat_interval", "routes"))
    return RouteConfig(receiver=receiver)


def parse_inhibit_rule(r: MapReader) -> InhibitRuleConfig | None:
    r.done(extra_known=("source_matchers", "target_matchers", "equal"))
    return None
