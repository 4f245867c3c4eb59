"""A source's literals told present or absent in one pass (rules/plans/literals.py): exactly
the literals `in` finds missing, whatever characters they hold."""

from __future__ import annotations

import random

from alerter.rules.plans.literals import MIN_LITERALS, LiteralSet

ALPHABET = "ab .*+?()[]{}|^$\\\n\"'é€"


def test_absent_is_what_the_text_lacks() -> None:
    rnd = random.Random(3)
    for _ in range(400):
        lits: set[str] = set()
        while len(lits) < rnd.randint(MIN_LITERALS, 12):
            lits.add("".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 4))))
        s = LiteralSet(lits)
        for _ in range(5):
            text = "".join(rnd.choice(ALPHABET) for _ in range(rnd.choice((0, 3, 30, 300))))
            assert s.absent(text) == {w for w in lits if w not in text}, (lits, text)


def test_few_literals_are_left_to_the_plans_searches() -> None:
    s = LiteralSet(["x", "y", "z"][: MIN_LITERALS - 1])
    assert s.absent("nothing here") == frozenset()
    assert len(LiteralSet(["a", "a", "b"])) == 2
