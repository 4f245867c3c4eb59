"""The route tree at run time: which routes an alert goes to, and its group labels there."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from alerter.dispatch.config import RouteConfig
from alerter.rules.matchers import matches_all


def match_routes(route: RouteConfig, labels: Mapping[str, str]) -> list[RouteConfig]:
    """Alertmanager's Route.Match: the deepest matching routes; a child without `continue`
    stops its later siblings; a route none of whose children match takes the alert itself."""
    if not matches_all(route.matchers, labels):
        return []
    found: list[RouteConfig] = []
    for child in route.routes:
        got = match_routes(child, labels)
        found.extend(got)
        if got and not child.continue_:
            break
    return found or [route]


def walk(route: RouteConfig) -> Iterator[RouteConfig]:
    yield route
    for child in route.routes:
        yield from walk(child)


def group_labels(route: RouteConfig, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels an alert is grouped by on this route (only those it has, as Alertmanager)."""
    if route.group_by_all:
        return dict(labels)
    return {k: labels[k] for k in route.group_by if k in labels}
