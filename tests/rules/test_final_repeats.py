"""A pattern that ends in a repeat that matches whenever it is reached (`(?P<msg>.*)`, which
patterns written for log lines often end with, inside groups or not) is proved linear in
Python's `re` when the rest of it is, and runs there: measured on the hostile lines the packs'
patterns are measured on. Patterns whose other parts backtrack still run in RE2."""

from __future__ import annotations

import re

import pytest

from alerter.core.linearity import linear_in_re
from alerter.core.re2engine import Re2Pattern
from alerter.core.saferegex import compile_pattern
from tests.rules.test_pack_patterns_linear import BASELINE, BOUND, fastest, hostile_lines

NOW_IN_RE = [
    r"ERROR code=5 user=(?P<user>.*)",
    r"Failed password for (?P<user>\S+) from (?P<rest>.*)",
    r"error: (?P<m>.*?)",
    r"x(?:y(?P<z>.*))",
    r"(?P<g>x=(?P<h>y (?P<i>.*)))",
    r"session (?P<id>\d+) closed(?P<why>.*)",
    r"user=(?P<u>[^ =]*) msg=(?P<msg>.*)",
]

STILL_IN_RE2 = [
    r"(?P<a>.*) x (?P<b>.*)",  # the first .* is not final: it gives back
    r"user=(?P<u>.*) ip=(?P<ip>.*)",
    r"(?P<a>\S+) said: (?P<msg>.*)",  # \S+ from every start of a run of non-spaces
    r"(?i:u=(?P<a>.*))",  # a group that sets flags is not looked into
    r"u=(?P<a>.*)$",  # $ after it: not the end
    r"(?P<a>(?:ab|a)*)",  # a choice inside the repeat
    r"user=(?P<u>[^ ]*) msg=(?P<msg>.*)",  # [^ ]* takes "user=user=...": each start rescans
]


@pytest.mark.parametrize("pattern", NOW_IN_RE)
def test_a_final_repeat_in_groups_runs_in_re_and_is_linear_on_64kb_hostile_lines(
    pattern: str,
) -> None:
    assert type(compile_pattern(pattern)) is re.Pattern
    rx = re.compile(pattern, re.ASCII)
    assert linear_in_re(rx)
    worst = (0.0, "")
    for token, line in hostile_lines(pattern):
        ratio = fastest(rx.search, line) / fastest(BASELINE.search, line)
        worst = max(worst, (ratio, token))
    assert worst[0] < BOUND, f"{pattern!r} costs {worst[0]:.0f}x a scan on {worst[1]!r}"


@pytest.mark.parametrize("pattern", STILL_IN_RE2)
def test_a_pattern_whose_other_parts_backtrack_still_runs_in_re2(pattern: str) -> None:
    assert isinstance(compile_pattern(pattern), Re2Pattern)
