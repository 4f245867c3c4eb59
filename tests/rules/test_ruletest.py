"""`alerter test`: promtool's format and expanding notation, input_logs, readable failures."""

from __future__ import annotations

import io
from argparse import Namespace
from pathlib import Path

import pytest

from alerter.cli.rules import cmd_test
from alerter.core.events import is_stale
from alerter.rules.expand import expand_values

RULES = """
groups:
  - name: g
    rules:
      - alert: HighValue
        metric: 'x{job="a"}'
        aggregate: last
        over: 5m
        threshold: "> 5"
        for: 2m
        labels: {severity: page}
        annotations: {summary: "x is {{ value }}"}
      - alert: Errors
        logs: {source: app, match: 'ERROR (?P<code>\\d+)'}
        aggregate: count
        over: 10m
        by: [code]
        threshold: ">= 2"
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2+4x3", [-2, 2, 6, 10]),
        ("1 _x3 stale", [1, None, None, None, "stale"]),
        ("10+10x2 30+20x5", [10, 20, 30, 30, 50, 70, 90, 110, 130]),
        ("1-1x3", [1, 0, -1, -2]),
        ("7x2", [7, 7, 7]),
        ("_ 1e3 -Inf", [None, 1000, float("-inf")]),
        ("NaN stale", ["NaN", "stale"]),  # a NaN value is not the staleness marker
    ],
)
def test_expanding_notation_matches_promtool(text: str, expected: list[object]) -> None:
    got = [
        v if v is None or v == v else "stale" if is_stale(v) else "NaN" for v in expand_values(text)
    ]
    assert got == expected


def test_expanding_notation_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"invalid value '1\+x3'"):
        expand_values("1 1+x3")


def test_a_series_that_expands_past_a_million_values_is_refused_before_it_is_made() -> None:
    # (`0+1x100000000000000` took the memory and hung `alerter test`)
    assert len(expand_values("1 _x999999")) == 1_000_000
    with pytest.raises(ValueError, match=r"'_x1000000': a series expands to at most 1,000,000"):
        expand_values("1 _x1000000")


def test_an_entry_repeated_past_a_million_times_is_told_where_it_is(tmp_path: Path) -> None:
    rc, out = run(tmp_path, PASSING.replace("repeat: 2,", "repeat: 1000001,"))
    assert (rc, out) == (
        1,
        f"{tmp_path / 't.test.yaml'}:13:55: repeat: must be <= 1000000, got 1000001\n",
    )


def run(tmp_path: Path, tests_yaml: str) -> tuple[int, str]:
    (tmp_path / "rules.yaml").write_text(RULES)
    f = tmp_path / "t.test.yaml"
    f.write_text(tests_yaml)
    out = io.StringIO()
    return cmd_test(Namespace(files=[str(f)]), out), out.getvalue()


PASSING = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - name: series and logs
    interval: 1m
    input_series:
      - {series: 'x{job="a",instance="i"}', values: '1 10x10'}
      - {series: 'x{job="b"}', values: '100x10'}
    input_logs:
      - source: app
        entries:
          - {at: 30s, line: "ERROR 500 boom", repeat: 2, every: 10s}
          - {at: 30s, line: "ERROR 404", fields: {x: y}}
          - {at: 30s, line: "ERROR 503 elsewhere"}
      - source: other
        entries:
          - {at: 30s, line: "ERROR 503 not this source", repeat: 5}
    alert_rule_test:
      - eval_time: 2m
        alertname: HighValue
        exp_alerts: []
      - eval_time: 3m
        alertname: HighValue
        exp_alerts:
          - exp_labels: {job: a, instance: i, severity: page}
            exp_annotations: {summary: "x is 10"}
      - eval_time: 1m
        alertname: Errors
        exp_alerts:
          - exp_labels: {code: "500"}
"""


def test_a_passing_file_exits_0(tmp_path: Path) -> None:
    rc, out = run(tmp_path, PASSING)
    assert rc == 0, out
    assert "1 test: SUCCESS" in out


def test_eval_time_between_steps_is_checked_at_the_step_before(tmp_path: Path) -> None:
    # 2m59s falls in [2m, 3m): checked at 2m, where HighValue is still pending
    rc, out = run(tmp_path, PASSING.replace("eval_time: 3m", "eval_time: 2m59s"))
    assert rc == 1
    assert "eval_time 2m59s" in out


def test_a_failing_check_prints_an_expected_vs_got_diff_and_exits_1(tmp_path: Path) -> None:
    rc, out = run(tmp_path, PASSING.replace('summary: "x is 10"', 'summary: "x is 11"'))
    assert rc == 1
    # the line of the failing check in the test file
    assert (
        "t.test.yaml:23: test 'series and logs': alertname HighValue, eval_time 3m: firing" in out
    )
    assert "-    summary: 'x is 11'" in out
    assert "+    summary: 'x is 10'" in out
    assert "FAILED (1 check)" in out


def test_unexpected_alert_is_shown_as_got(tmp_path: Path) -> None:
    rc, out = run(
        tmp_path,
        PASSING.replace(
            '        exp_alerts:\n          - exp_labels: {code: "500"}\n',
            "        exp_alerts: []\n",
        ),
    )
    assert rc == 1
    assert "-(no firing alerts)" in out
    assert "+    code: '500'" in out


def test_unknown_alertname_and_bad_files_are_reported(tmp_path: Path) -> None:
    rc, out = run(tmp_path, PASSING.replace("alertname: Errors", "alertname: Errorz"))
    assert rc == 1 and "no rule defines alert Errorz" in out
    rc, out = run(tmp_path, PASSING.replace("rules.yaml", "missing.yaml"))
    assert rc == 1 and "cannot read" in out
    rc, out = run(tmp_path, PASSING.replace("'1 10x10'", "'1 10y10'"))
    assert rc == 1 and "t.test.yaml:" in out and "invalid value '10y10'" in out


def test_no_global_labels_are_added_but_external_labels_may_be_set(tmp_path: Path) -> None:
    text = PASSING.replace(
        "  - name: series and logs\n",
        "  - name: series and logs\n    external_labels: {env: test}\n",
    )
    text = text.replace('exp_labels: {code: "500"}', 'exp_labels: {code: "500", env: test}')
    text = text.replace(
        "{job: a, instance: i, severity: page}", "{job: a, instance: i, severity: page, env: test}"
    )
    rc, out = run(tmp_path, text)
    assert rc == 0, out


def test_input_logs_can_be_parsed_with_a_collector_parser(tmp_path: Path) -> None:
    rules = tmp_path / "p.yaml"
    rules.write_text("""
groups:
  - name: g
    rules:
      - alert: SudoFail
        logs: {where: {program: sudo}, match: 'incorrect password'}
        aggregate: count
        over: 5m
        threshold: ">= 1"
""")
    f = tmp_path / "p.test.yaml"
    f.write_text("""
rule_files: [p.yaml]
tests:
  - name: syslog fields
    input_logs:
      - source: auth
        parser: syslog
        entries:
          - {at: 0s, line: "Nov 28 07:00:00 web sudo[12]: bob : 3 incorrect password attempts"}
          - {at: 0s, line: "Nov 28 07:00:00 web su[13]: 3 incorrect password attempts"}
    alert_rule_test:
      - eval_time: 1m
        alertname: SudoFail
        exp_alerts: [{}]
""")
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(f)]), out) == 0, out.getvalue()


def test_promql_expressions_beyond_selectors_are_refused_not_skipped(tmp_path: Path) -> None:
    expr = "    promql_expr_test:\n      - {expr: 'rate(x[1m])', eval_time: 1m}\n"
    rc, out = run(tmp_path, PASSING + expr)
    assert rc == 1 and "no PromQL functions or operators" in out


def test_mistakes_in_a_test_file_are_told_plainly(tmp_path: Path) -> None:
    misspelt = """
rule_files: [rules.yaml]
tests:
  - input_logs:
      - source: other  # read by no rule: said beside the failure
        entries: [{at: 0s, line: "ERROR 500", repeat: 3}]
    alert_rule_test:
      - {eval_time: 1m, alertname: Errors, exp_alerts: [{exp_labels: {code: "500"}}]}
      - {eval_time: 1m, alertname: Error}
"""
    rc, out = run(tmp_path, misspelt)
    assert rc == 1
    assert "no rule defines alert Error (did you mean Errors?)" in out
    rc, out = run(tmp_path, misspelt.replace("      - {eval_time: 1m, alertname: Error}\n", ""))
    assert rc == 1
    assert "\n  note: input_logs source 'other' is read by no rule (they read app)" in out
    rc, out = run(tmp_path, misspelt.replace("alertname: Error}", "alertname: Errors}").replace(
        "{eval_time: 1m, alertname: Errors, exp", "{eval_time: 10000d, alertname: Errors, exp"
    ))  # fmt: skip
    assert rc == 1
    assert "eval_time 10000d is 14,400,000 evaluations at evaluation_interval 1m" in out
    rc, out = run(tmp_path, misspelt.replace('{code: "500"}}', '{code: "500"}, exp_annotations: {summary: null}}'))  # fmt: skip
    assert rc == 1
    assert "exp_annotations.summary: expected a string, got nothing (write '' for empty)" in out


def test_a_check_of_an_unknown_alert_names_its_line_and_the_other_checks_still_run(
    tmp_path: Path,
) -> None:
    text = """
rule_files: [rules.yaml]
tests:
  - input_logs:
      - source: app
        entries: [{at: 0s, line: "ERROR 500", repeat: 3}]
    alert_rule_test:
      - {eval_time: 1m, alertname: Errors, exp_alerts: []}
      - {eval_time: 1m, alertname: Error, exp_alerts: []}
"""
    rc, out = run(tmp_path, text)
    assert rc == 1
    f = tmp_path / "t.test.yaml"
    assert f"{f}:9: test 'unnamed test': no rule defines alert Error (did you mean Errors?)" in out
    # the check before it still ran, and failed: the typo does not hide it
    assert (
        f"{f}:8: test 'unnamed test': alertname Errors, eval_time 1m: firing alerts differ" in out
    )
    assert out.endswith(f"{f}: 1 test: FAILED (2 checks)\n")


def test_a_test_that_checks_nothing_passes_as_in_promtool(tmp_path: Path) -> None:
    text = "rule_files: [rules.yaml]\ntests:\n  - input_logs: [{entries: [{line: x}]}]\n"
    assert run(tmp_path, text) == (0, f"{tmp_path / 't.test.yaml'}: 1 test: SUCCESS\n")


def test_a_rule_file_or_test_file_that_cannot_be_read_is_told_as_check_tells_it(
    tmp_path: Path,
) -> None:
    f = tmp_path / "t.test.yaml"
    rc, out = run(tmp_path, "rule_files: [rules.yaml, builtin:sshh]\ntests: []\n")
    assert rc == 1
    assert out.startswith(f"{f}:1:26: rule_files: no builtin rule pack 'sshh' (have: apache, ")
    assert "sshd, " in out
    for missing in (tmp_path / "nope.test.yaml", tmp_path):
        got = io.StringIO()
        assert cmd_test(Namespace(files=[str(missing)]), got) == 1
        why = "No such file or directory" if missing != tmp_path else "Is a directory"
        assert got.getvalue() == f"{missing}: cannot read test file: {why}\n"
