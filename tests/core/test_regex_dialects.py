"""A pattern means the same whichever engine runs it (core/saferegex.py), per its dialect.

Python dialect (rules, parsers): random patterns from a grammar covering the constructs the two
engines read differently, run by RE2 as core/re2translate.py rewrites them, against Python's
`re` (with `re.ASCII`) on random short texts: the same match or no match, span and groups, for
`search`, `match` and `fullmatch`. Patterns are small and texts short, so `re` answers quickly.
A pattern the rewrite refuses must be refused for a documented reason.

Alertmanager dialect (matchers): random RE2 patterns, RE2-only syntax included, against
google-re2's own `^(?:value)$`: the same answer, and never run by `re`.
"""

from __future__ import annotations

import re
import warnings
from functools import partial

import pytest
import re2  # type: ignore[import-untyped]  # google-re2 ships no type hints
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerter.core.linearity import linear_in_re
from alerter.core.saferegex import UnsafePatternError, compile_pattern, is_re2, python_in_re2
from alerter.rules.matchers import Matcher

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # re: "possible nested set"

# characters where the engines differ: Kelvin sign and long s (RE2 folds them to k, s), \v and
# \x1c (whitespace to re only, \x1c only without re.ASCII), NBSP, é/É (Unicode case), an
# Arabic-Indic digit (\d without re.ASCII), a final newline ($), ] and : (POSIX-like sets)
ALPHABET = "abkKsS\u212a\u017f\u00e9\u00c9_- .\n\v\t\x1c\xa0\u06630:[]$A\x00"

# (pattern, characters to try where it stands): each atom with the characters the engines
# may read differently there
ATOMS = (
    *(("a", "aA"), ("k", "kK\u212a"), ("K", "kK\u212a"), ("s", "sS\u017f"), ("-", "-")),
    *(("\u00e9", "\u00e9\u00c9"), ("\u212a", "\u212ak"), (":", ":"), ("\\.", ".a")),
    *(("\\$", "$"), ("\\[", "["), ("\\]", "]"), (" ", " \t"), (".", "a\n")),
    *(("\\d", "0\u0663a"), ("\\D", "a0"), ("\\w", "a_\u00e9-"), ("\\W", "-\u00e9a")),
    *(("\\s", " \v\x1c\xa0\n"), ("\\S", "a\v\x1c\xa0"), ("\\v", "\v"), ("\\n", "\n")),
    *(("\\t", "\t"), ("\\x41", "Aa"), ("\\101", "A"), ("\\0", "\x00"), ("\\x00", "\x00")),
    *(("[a-c]", "bB"), ("[^a]", "aAb\n"), ("[^\\s]", "a\v"), ("[\\w-]", "-\u00e9"), ("[]a]", "]a")),
    *(("[^k]", "kK\u212a"), ("[k-m]", "lL\u212a"), ("[^\\n]", "\n\r"), ("[^]k]", "]k\u212a")),
    *(
        ("[\\d\\s]", "1\v"),
        ("[^\\W\\d]", "a1\u00e9"),
        ("[ -/]", "-!"),
        ("[\u00e9\u212a]", "\u00c9k"),
    ),
    *(("[[:alpha:]]", "a[:]"), ("[:a]", ":a")),
)
ANCHORS = ("^", "$", "\\A", "\\Z", "\\b", "\\B")
# (quantifier, how many times its body is written in the example)
QUANTIFIERS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("", (1,)),
    ("*", (0, 1, 2, 3)),
    ("+", (1, 2, 3)),
    ("?", (0, 1)),
    ("{2}", (2,)),
)
QUANTIFIERS += (("{1,2}", (1, 2)), ("{,2}", (0, 1, 2)), ("{2,}", (2, 3)), ("*?", (0, 1, 2)))
QUANTIFIERS += (("+?", (1, 2)), ("??", (0, 1)), ("{1,2}?", (1, 2)), ("{0}", (0,)))
GROUPS = ("(", "(?:", "(?P<g>", "(?i:", "(?s:", "(?m:", "(?-i:", "(?x:")
FLAGS = ("", "", "", "(?i)", "(?m)", "(?s)", "(?im)", "(?is)", "(?x)")


def _piece(data: st.DataObject, depth: int) -> tuple[str, st.SearchStrategy[str]]:
    """A pattern piece and a strategy for text it is meant to match (roughly: the engines'
    readings differ exactly on such near-misses)."""
    kind = data.draw(
        st.sampled_from(("atom",) * 5 + ("anchor", "group") if depth < 2 else ("atom",))
    )
    if kind == "anchor":
        return data.draw(st.sampled_from(ANCHORS)), st.sampled_from(("", "\n", " "))
    if kind == "atom":
        pattern, chars = data.draw(st.sampled_from(ATOMS))
        body = st.sampled_from(chars)
    else:
        alts = [_sequence(data, depth + 1) for _ in range(data.draw(st.integers(1, 3)))]
        pattern = data.draw(st.sampled_from(GROUPS)) + "|".join(a for a, _ in alts) + ")"
        body = st.one_of(*(t for _, t in alts))
    quant, counts = data.draw(st.sampled_from(QUANTIFIERS))
    text = st.sampled_from(counts).flatmap(
        lambda n: st.lists(body, min_size=n, max_size=n).map("".join)
    )
    return pattern + quant, text


def _sequence(data: st.DataObject, depth: int) -> tuple[str, st.SearchStrategy[str]]:
    pieces = [_piece(data, depth) for _ in range(data.draw(st.integers(1, 3)))]
    texts = st.tuples(*(t for _, t in pieces)).map("".join)
    return "".join(p for p, _ in pieces), texts


def _named(text: str) -> str:
    """Each `(?P<g>` its own name."""
    parts = text.split("(?P<g>")
    return parts[0] + "".join(f"(?P<g{i}>{p}" for i, p in enumerate(parts[1:]))


def pattern_and_lines(data: st.DataObject) -> tuple[str, list[str]]:
    alts = [_sequence(data, 0) for _ in range(data.draw(st.integers(1, 2)))]
    pattern = _named(data.draw(st.sampled_from(FLAGS)) + "|".join(p for p, _ in alts))
    meant = st.one_of(*(t for _, t in alts))
    near = st.one_of(
        meant,
        meant.map(lambda t: t + "\n"),
        st.builds(
            lambda a, t, b: a + t + b,
            st.text(ALPHABET, max_size=2),
            meant,
            st.text(ALPHABET, max_size=2),
        ),
        st.text(ALPHABET, max_size=6),
    )
    return pattern, data.draw(st.lists(near, min_size=6, max_size=12))


# why a Python pattern may have no RE2 form (core/re2translate.py, core/saferegex.py)
REFUSALS: tuple[str, ...] = (
    "is followed by more of the pattern",
    "ends the repeat at an empty turn",
)
REFUSALS += ("RE2 refuses the pattern",)


def outcome(m: re.Match[str] | None) -> object:
    if m is None:
        return None
    return m.span(), [m.span(i) for i in range(1, m.re.groups + 1)], m.groupdict()


# The oracle is Python's `re`, which backtracks: a generated pattern it cannot run in linear
# time (nested repeats) gets only lines short enough for its worst case to stay small, or one
# example could hang the run (seen: `((a*)*)*`-like pieces over 30 characters).
SHORT_LINE = 10


def oracle_lines(py: re.Pattern[str], lines: list[str]) -> list[str]:
    return lines if linear_in_re(py) else [ln for ln in lines if len(ln) <= SHORT_LINE]


def python_re(pattern: str) -> re.Pattern[str] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarning: possible nested set
        try:
            return re.compile(pattern, re.ASCII)
        except re.error:
            return None


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_python_pattern_run_by_re2_means_what_re_means(data: st.DataObject) -> None:
    pattern, lines = pattern_and_lines(data)
    py = python_re(pattern)
    if py is None:
        return
    try:
        r2 = python_in_re2(pattern)
    except UnsafePatternError as e:
        assert any(why in str(e) for why in REFUSALS), str(e)
        return
    for line in oracle_lines(py, lines):
        for how in ("search", "match", "fullmatch"):
            want = outcome(getattr(py, how)(line))
            got = outcome(getattr(r2, how)(line))
            assert got == want, (pattern, r2.text, how, line)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_whichever_engine_compile_pattern_picks_the_answer_is_res(data: st.DataObject) -> None:
    pattern, lines = pattern_and_lines(data)
    py = python_re(pattern)
    if py is None:
        return
    try:
        rx = compile_pattern(pattern)
    except UnsafePatternError:
        return
    for line in oracle_lines(py, lines):
        assert outcome(rx.search(line)) == outcome(py.search(line)), (pattern, is_re2(rx), line)


# Alertmanager: RE2 syntax, RE2-only parts included
AM_ATOMS = (
    *(("a", "aA"), ("k", "kK\u212a"), (".", "a\n"), ("\\d", "0\u0663"), ("\\w", "a\u00e9")),
    *(("\\s", " \v\n"), ("\\S", "a\v"), ("[a-c]", "b"), ("[^a]", "a\n"), ("[^k]", "k\u212a")),
    *(("\\pL", "a\u00e9"), ("\\PL", "1a"), ("[[:alpha:]]", "a:"), ("[[:^space:]]", " a")),
    *(("\\Q.*\\E", ".*"), ("\\x{41}", "A"), ("\\v", "\v"), ("\\n", "\n"), ("\u212a", "kK")),
    *(("\u00e9", "\u00c9"), ("(?i:k)", "K\u212a"), ("(?s:.)", "\n"), ("(?U:a+)", "aa")),
    *(("\\z", ""), ("^", ""), ("$", "\n"), ("\\b", ""), ("\\B", "")),
)


def _repeated(body: st.SearchStrategy[str], n: int) -> st.SearchStrategy[str]:
    return st.lists(body, min_size=n, max_size=n).map("".join)


def _am_sequence(data: st.DataObject, depth: int) -> tuple[str, st.SearchStrategy[str]]:
    pieces = []
    for _ in range(data.draw(st.integers(1, 3))):
        if depth < 2 and data.draw(st.integers(0, 5)) == 0:
            alts = [_am_sequence(data, depth + 1) for _ in range(data.draw(st.integers(1, 3)))]
            group = data.draw(st.sampled_from(("(", "(?:", "(?i:", "(?s:", "(?m:")))
            pattern, body = (
                group + "|".join(a for a, _ in alts) + ")",
                st.one_of(*(t for _, t in alts)),
            )
        else:
            pattern, chars = data.draw(st.sampled_from(AM_ATOMS))
            body = st.sampled_from(list(chars) or [""])
        quant, counts = data.draw(st.sampled_from(QUANTIFIERS))
        text = st.sampled_from(counts).flatmap(partial(_repeated, body))
        pieces.append((pattern + quant, text))
    return "".join(p for p, _ in pieces), st.tuples(*(t for _, t in pieces)).map("".join)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_matcher_regex_means_what_alertmanager_means(data: st.DataObject) -> None:
    flag = data.draw(st.sampled_from(("", "", "(?i)", "(?s)", "(?m)", "(?U)")))
    value, meant = _am_sequence(data, 0)
    value = flag + value
    try:
        reference = re2.compile(f"^(?:{value})$", _RE2_OPTIONS)
    except re2.error:
        return
    m = Matcher.create("x", "=~", value)
    assert is_re2(m.regex)
    near = st.one_of(meant, meant.map(lambda t: t + "\n"), st.text(ALPHABET, max_size=5))
    for v in data.draw(st.lists(near, min_size=6, max_size=10)):
        assert m.matches({"x": v}) == (reference.search(v) is not None), (value, v)
