"""The regex derivations of rules/prefilter.py, and the private parser they read: a Python
whose `re._parser` is missing or parses otherwise fails here (and every derivation answers
"none", with the reason), instead of silently costing the batch plans."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from alerter.core.saferegex import compile_pattern, is_re2
from alerter.rules import prefilter
from alerter.rules.prefilter import (
    PARSER_PROBLEM,
    PROBE,
    PROBE_SHAPE,
    batch_pattern,
    literal_or_why,
    match_shape,
    may_match_newline,
    named,
    parse,
    parser_problem,
)


def test_this_pythons_regex_parser_has_the_shape_the_derivations_read() -> None:
    assert PARSER_PROBLEM is None
    assert named(parse(re.compile(PROBE))) == PROBE_SHAPE


@pytest.mark.parametrize(
    ("parser", "says"),
    [
        (SimpleNamespace(parse=lambda p, f: [("LITERAL", 97)]), "parses the probe differently"),
        (SimpleNamespace(parse=lambda p, f: 1 / 0), "ZeroDivisionError"),
        (SimpleNamespace(), "AttributeError"),
    ],
)
def test_a_parser_of_another_shape_is_refused(parser: Any, says: str) -> None:
    problem = parser_problem(parser)
    assert problem is not None and says in problem


def test_without_a_usable_parser_nothing_is_derived_and_the_reason_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rx = re.compile(r"Failed password for (?P<user>\S+)")
    assert literal_or_why(rx) == ("Failed password for ", "")
    monkeypatch.setattr(prefilter, "_parser", None)
    monkeypatch.setattr(prefilter, "PARSER_PROBLEM", "no re._parser: gone")
    assert literal_or_why(rx) == (None, "no re._parser: gone")
    assert batch_pattern(rx) is None
    assert match_shape(rx) is None
    assert may_match_newline(re.compile("abc"))  # conservative when unsure


@pytest.mark.parametrize(
    ("pattern", "literal", "why"),
    [
        (r"(?P<unit>\w+)\.service: Failed", ".service: Failed", ""),
        (r"ab(?:cd|ef)+g", "ab", ""),  # no alternative's run is in every match
        (r"(?i)error", None, "case-insensitive"),
        (r"a(?:bc|de)+f", None, "no literal of 2 or more characters"),
    ],
)
def test_literal_or_why(pattern: str, literal: str | None, why: str) -> None:
    got, reason = literal_or_why(re.compile(pattern))
    assert got == literal
    assert why in reason and bool(reason) == (literal is None)


def test_an_re2_only_pattern_has_no_literal_and_says_so() -> None:
    rx = compile_pattern(r"\pL+ failed")  # RE2 syntax Python's re does not read
    assert is_re2(rx)
    literal, why = literal_or_why(rx)
    assert literal is None and "not Python regex syntax" in why
