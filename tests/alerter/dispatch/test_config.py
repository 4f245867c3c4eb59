"""Route and inhibit-rule config: inheritance, Alertmanager's checks, positions in errors."""

from __future__ import annotations

import pytest

from alerter.core.yamlsource import SourceError
from alerter.dispatch.routing import group_labels, match_routes

from .helpers import inhibit, route

TREE = """
receiver: a
group_by: [alertname]
group_wait: 5s
routes:
  - matchers: ['severity="critical"']
    receiver: b
    continue: true
    group_interval: 2m
    routes:
      - {matchers: ['team=~"db|web"'], group_by: ['...']}
  - {matchers: '{team="web"}', receiver: c, repeat_interval: 1h}
"""


def test_children_inherit_unset_fields_from_their_parent() -> None:
    root = route(TREE, ("a", "b", "c"))
    crit, web = root.routes
    (sub,) = crit.routes
    assert (crit.receiver, crit.group_by, crit.group_wait, crit.group_interval) == (
        "b",
        ("alertname",),
        5,
        120,
    )
    assert (sub.receiver, sub.group_by_all, sub.group_interval, sub.repeat_interval) == (
        "b",
        True,
        120,
        4 * 3600,
    )
    assert (web.receiver, web.group_wait, web.repeat_interval, web.group_interval) == (
        "c",
        5,
        3600,
        300,
    )
    assert crit.key == '{}/{severity="critical"}'
    assert sub.key == '{}/{severity="critical"}/{team=~"db|web"}'


def test_matching_follows_continue_and_falls_back_to_the_parent() -> None:
    root = route(TREE, ("a", "b", "c"))

    def recv(**labels: str) -> list[str]:
        return [r.receiver + r.id for r in match_routes(root, labels)]

    assert recv(severity="critical", team="web") == ["b0.0.0", "c0.1"]
    assert recv(severity="critical", team="ops") == ["b0.0"]
    assert recv(team="web") == ["c0.1"]
    assert recv(team="ops") == ["a0"]


def test_group_labels_only_has_labels_the_alert_has() -> None:
    root = route("{receiver: a, group_by: [alertname, host]}", ("a",))
    assert group_labels(root, {"alertname": "X"}) == {"alertname": "X"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{receiver: nope}", r"c.yaml:1:12: receiver: no notifier named 'nope'"),
        ("{receiver: a, matchers: ['x=\"y\"']}", "root route .* cannot have matchers"),
        ("{receiver: a, group_by: ['...', host]}", "cannot be combined"),
        ("{receiver: a, group_interval: 0s}", "group_interval: must be greater than 0"),
        (
            "{receiver: a, routes: [{matchers: ['x=~\"(\"']}]}",
            r"c.yaml:1:36: matchers: invalid regex",
        ),
        ("{receiver: a, routes: [{recevier: a}]}", "unknown key 'recevier'"),
    ],
)
def test_route_problems_are_reported_with_position(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        route(text, ("a",))


def test_no_route_section_sends_everything_to_the_first_notifier_by_alertname() -> None:
    from alerter.core.yamlsource import Mark, Problems
    from alerter.dispatch.config import parse_route

    r = parse_route(None, ["console", "x"], Mark("c.yaml", 1, 1), Problems())
    assert (r.receiver, r.group_by) == ("console", ("alertname",))


def test_inhibit_rule_parses_matchers_and_equal() -> None:
    rule = inhibit(
        "{source_matchers: ['alertname=\"HostDown\"'], target_matchers: ['severity=~\"warn.*\"'], equal: [host]}"
    )
    assert [str(m) for m in rule.source_matchers] == ['alertname="HostDown"']
    assert rule.equal == ("host",)
    with pytest.raises(SourceError, match="source_matchers must list at least one matcher"):
        inhibit("{target_matchers: ['a=\"b\"']}")
    with pytest.raises(SourceError) as e:  # a matcher that does not parse: that problem alone
        inhibit("{source_matchers: ['alertname=~\"(\"'], target_matchers: ['a=\"b\"']}")
    (problem,) = e.value.problems
    assert "source_matchers:" in problem.message and "at least one" not in problem.message
