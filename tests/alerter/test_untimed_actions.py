"""`alerter check` warns of an action on a rule that reads lines with no time of their own
from the start of a file: a backlog read at start counts as fresh and acts at once."""

from __future__ import annotations

import textwrap

import pytest

from alerter.config.load import parse_config

ACTIONS = """
actions:
  - {name: ban, type: ban, address: "{{ labels.ip }}", duration: 10m}
rule_files:
  - {path: builtin:nginx, sources: [nginx_error], actions: {NginxHTTPAuthFailures: [ban]}}
"""


def warnings(collector: str) -> list[str]:
    text = "collectors:\n  - " + collector + "\n" + textwrap.dedent(ACTIONS)
    return [str(w) for w in parse_config(text, "alerter.yaml", {}).warnings]


def test_a_ban_on_lines_without_time_read_from_the_beginning_is_warned_about() -> None:
    # the auditor's dng.yaml: nginx's error log read with parser none from its beginning
    (told,) = warnings(
        "{name: nginx_error, type: file, paths: [./ngerr.log], start_at: beginning,"
        " parser: {type: none}}"
    )
    assert told.startswith(
        "alerter.yaml:7:61: warning: NginxHTTPAuthFailures (actions: ban) reads collector "
        "'nginx_error' (at alerter.yaml:2:5: ngerr.log, parser none), whose lines carry no time"
    ), told
    assert "start_at: beginning" in told and "time_field" in told


@pytest.mark.parametrize(
    "collector",
    [
        # the lines' own time: a backlog falls out of the rule's window
        "{name: nginx_error, type: file, paths: [./e.log], start_at: beginning, parser: {type:"
        " regex, pattern: '^(?P<time>\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d) ', time_field:"
        " time, time_format: '%Y/%m/%d %H:%M:%S'}}",
        # only lines written from now on
        "{name: nginx_error, type: file, paths: [./e.log], start_at: end, parser: {type: none}}",
    ],
)
def test_no_warning_with_a_time_field_or_from_the_end(collector: str) -> None:
    assert warnings(collector) == []


def test_a_regex_parser_without_time_field_is_no_better_than_none() -> None:
    (told,) = warnings(
        "{name: nginx_error, type: file, paths: [./e.log], start_at: beginning,"
        " parser: {type: regex, pattern: '^(?P<level>\\w+)'}}"
    )
    assert "parser regex without time_field" in told
