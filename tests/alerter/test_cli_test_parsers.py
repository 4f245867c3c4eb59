"""`alerter test` reads input_logs' `parser:` as a file collector does: any parser type, with its
options (a regex parser's pattern, time fields), and its problems at their position."""

from __future__ import annotations

import io
from argparse import Namespace
from pathlib import Path

import pytest

from alerter.cli.rules import cmd_test

RULES = """
groups:
  - name: nginx
    rules:
      - alert: ServerErrors
        logs: {source: nginx, where: ['status=~"5.."']}
        aggregate: count
        over: 5m
        by: [ip]
        threshold: ">= 2"
"""

NGINX = r'(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "[^"]*" (?P<status>\d{3}) '

TEST = """
rule_files: [r.yaml]
tests:
  - name: nginx access lines
    input_logs:
      - source: nginx
        parser: PARSER
        entries:
          - {at: 0s, line: '203.0.113.7 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 0 "-" "x"', repeat: 2, every: 10s}
          - {at: 0s, line: '198.51.100.1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "x"', repeat: 3}
    alert_rule_test:
      - eval_time: 1m
        alertname: ServerErrors
        exp_alerts: [{exp_labels: {ip: 203.0.113.7}}]
"""


def run(tmp_path: Path, parser: str, rules: str = RULES) -> tuple[int, str]:
    (tmp_path / "r.yaml").write_text(rules)
    f = tmp_path / "t.yaml"
    f.write_text(TEST.replace("PARSER", parser))
    out = io.StringIO()
    return cmd_test(Namespace(files=[str(f)]), out), out.getvalue()


def test_a_regex_parser_with_its_pattern_and_time_field(tmp_path: Path) -> None:
    parser = (
        f"{{type: regex, pattern: '{NGINX}', time_field: time, "
        "time_format: '%d/%b/%Y:%H:%M:%S %z'}"
    )
    rc, out = run(tmp_path, parser)
    assert rc == 0, out


def test_without_the_parser_the_fields_are_missing_and_the_test_fails(tmp_path: Path) -> None:
    rc, out = run(tmp_path, "none")
    assert rc == 1 and "ServerErrors" in out


@pytest.mark.parametrize(
    ("parser", "message"),
    [
        (
            "regex",
            "t.yaml:7:17: parser: ",
        ),  # a regex parser needs its pattern: said, not a traceback
        ("{type: regex, pattern: '(?P<ip>'}", "pattern: "),
        ("{type: nginx}", "t.yaml:7:24: type: unknown value 'nginx'"),
        ("{type: json, colour: red}", "colour"),
        ("{type: json, time_format: '%Q'}", "time_format"),
    ],
)
def test_problems_are_reported_with_their_position(
    tmp_path: Path, parser: str, message: str
) -> None:
    rc, out = run(tmp_path, parser)
    assert rc == 1 and message in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize("parser", ["syslog", "{type: syslog}", "{type: logfmt}", "{type: json}"])
def test_every_parser_type_is_accepted_as_a_name_or_a_mapping(tmp_path: Path, parser: str) -> None:
    rc, out = run(tmp_path, parser)
    # read without a problem, so the test ran (and fails: the lines are not in these formats)
    assert rc == 1 and "firing alerts differ" in out, out
