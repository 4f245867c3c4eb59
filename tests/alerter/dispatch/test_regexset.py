"""Random regexes: wherever the index puts a silence regex in an RE2 Set, the Set matches every
value the matcher's own regex matches (RE2, as Alertmanager; rules/matchers.py), whatever the
syntax, flags and odd characters."""

from __future__ import annotations

import random

import pytest

from alerter.core.saferegex import is_re2
from alerter.dispatch import regexset
from alerter.rules.matchers import Matcher

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # `[[:alpha:]]` in re

ATOMS = (
    *("a", "b", "k", ".", "\\d", "\\w", "\\s", "\\S", "\\W", "\\D", "[a-c]", "[^a]", "[^\\s]"),
    *("[\\w-]", "\\.", "\\n", "\\v", "\\x41", "\\0", "\\01", "é", "[[:alpha:]]", "\\b", "\\B"),
    *("^", "$", "\\A", "\\Z", "\\t", "[^k]", "[k-m]", "\\\\"),
)
QUANTIFIERS = ("", "", "", "*", "+", "?", "{1,2}", "{,2}", "{2}", "*?", "{2,}")
FLAGS = ("", "", "", "(?i)", "(?m)", "(?s)", "(?-s)", "(?im)")
GROUPS = ("(", "(?:", "(?i:", "(?m:", "(?-s:", "(?s:")
# Kelvin sign and long s fold to k and s in RE2 only; \v is \s in re only (were a matcher run
# by re, the Set would answer otherwise)
ALPHABET = "abkKsS\u212a\u017f\n\v 1.-éÉA\x00\x01\t]:_\\"


def regex(rnd: random.Random, depth: int = 0) -> str:
    parts = []
    for _ in range(rnd.randint(1, 4)):
        if rnd.random() < 0.15 and depth < 2:
            body = regex(rnd, depth + 1)
            if rnd.random() < 0.4:
                body += "|" + regex(rnd, depth + 1)
            parts.append(rnd.choice(GROUPS) + body + ")" + rnd.choice(QUANTIFIERS))
        else:
            parts.append(rnd.choice(ATOMS) + rnd.choice(QUANTIFIERS))
    text = "".join(parts)
    if depth == 0 and rnd.random() < 0.2:
        text += "|" + regex(rnd, 1)
    return text


@pytest.mark.parametrize("seed", range(3))
def test_a_set_matches_whatever_the_matcher_matches(seed: int) -> None:
    rnd = random.Random(seed)
    in_sets = 0
    for _ in range(3000):
        try:
            m = Matcher.create("x", "=~", rnd.choice(FLAGS) + regex(rnd))
        except ValueError:
            continue
        assert is_re2(m.regex)  # never Python's re, whose reading differs
        pattern = regexset.set_pattern(m)
        if pattern is None:
            continue
        in_sets += 1
        rs = regexset.new_set()
        rs.Add(pattern)
        rs.Compile()
        for _ in range(40):
            value = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 5)))
            if m.matches({"x": value}):
                assert rs.Match(value), (m.value, value)
    assert in_sets > 1500
