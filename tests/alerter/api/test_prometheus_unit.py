"""alerter/api/prometheus.py without a daemon: Go's float text, and the rules view."""

from __future__ import annotations

from typing import Any

import pytest

from alerter.api.prometheus import NEVER, go_float, rules_body
from alerter.rules.alert import Alert
from alerter.rules.model import Group, Rule


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2e+00"),
        (0.0, "0e+00"),
        (2.5, "2.5e+00"),
        (123456789.0, "1.23456789e+08"),
        (1e-05, "1e-05"),
        (1e21, "1e+21"),
        (1e100, "1e+100"),
        (-3.25, "-3.25e+00"),
        (1 / 3, "3.333333333333333e-01"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
    ],
)
def test_values_are_printed_as_go_prints_them(value: float, text: str) -> None:
    # strconv.FormatFloat(v, 'e', -1, 64), as Prometheus' API prints alert values
    assert go_float(value) == text


def rule(name: str, index: int, **kw: Any) -> Rule:  # (kw: Rule's other fields)
    return Rule(alert=name, group="g", index=index, logs=None, metric=None, aggregate="count",
                over=300.0, **kw)  # fmt: skip


def test_rules_view_matches_health_and_alerts_to_their_rules() -> None:
    group = Group("g", 15.0, (rule("A", 0, for_=60.0, labels={"severity": "page"}), rule("B", 1)))
    health = [
        {"name": "g", "lastEvaluation": "2026-01-01T00:00:00.000Z", "rules": [
            {"name": "B", "lastError": "boom", "lastEvaluation": "2026-01-01T00:00:00.000Z"},
        ]},
    ]  # fmt: skip
    firing = Alert({"alertname": "A", "x": "1"}, {}, "firing", 3.0, 1.7e9, group="g")
    body = rules_body([group], health, [firing])
    (g,) = body["data"]["groups"]
    a, b = g["rules"]
    assert (a["name"], a["state"], a["duration"], a["labels"]) == (
        "A",
        "firing",
        60,
        {"severity": "page"},
    )
    assert [x["value"] for x in a["alerts"]] == ["3e+00"]
    assert (a["health"], a["lastEvaluation"]) == ("unknown", NEVER)  # no entry: never evaluated
    assert (b["health"], b["lastError"], b["state"], b["alerts"]) == ("err", "boom", "inactive", [])
    assert "lastError" not in a
    assert (g["interval"], g["limit"]) == (15, 0)
