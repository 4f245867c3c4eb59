"""A user's rule regex runs in linear time (issue 11, point 1): `(a+)+$` passed `alerter check`
and a 29-byte line stalled the daemon 21.5 s; now it runs in RE2. What RE2 cannot run is
refused at load with its position and what to change."""

from __future__ import annotations

import pytest

from alerter.core.yamlsource import SourceError
from alerter.rules.loader import load_rule_files
from tests.rules.helpers import engine, log

RULE = """
groups:
  - name: g
    rules:
      - alert: A
        logs: {{source: app, match: '{match}'}}
        aggregate: count
        over: 1m
        threshold: ">= 1"
"""


def test_a_nested_quantifier_is_accepted_and_runs_in_linear_time() -> None:
    e = engine(RULE.format(match="(a+)+$"))
    assert log(e, 0, "a" * 40 + "!") == []  # hours in a backtracking engine
    assert [t.alert.alertname for t in log(e, 1, "a" * 40)] == ["A"]


@pytest.mark.parametrize("match", [r"(?<=x)y", r"(a)\1", r"a(?=b)", r"a*+"])
def test_what_no_linear_engine_runs_is_refused_with_its_position(match: str) -> None:
    with pytest.raises(SourceError) as e:
        load_rule_files([("t.yaml", RULE.format(match=match))], default_interval=15)
    text = str(e.value)
    assert "t.yaml:6:" in text and "match" in text, text
