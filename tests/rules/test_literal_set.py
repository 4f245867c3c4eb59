"""A source's literals told present or absent in one pass (rules/plans/literals.py): exactly
the literals `in` finds missing, whatever characters they hold; the pass is skipped for a while
where it spares less than it costs (never a wrong answer: an empty set is always true)."""

from __future__ import annotations

import random

from alerter.rules.plans.literals import MIN_LITERALS, SKIP_BATCHES, LiteralSet

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
            got = s.absent(text)
            assert got == {w for w in lits if w not in text} or not got, (lits, text)
            assert LiteralSet(lits).absent(text) == {w for w in lits if w not in text}


def test_a_set_that_spares_little_is_skipped_for_a_while() -> None:
    short = ["ab", "cd", "ef", "gh", "ij"]
    kept = LiteralSet(short)
    for _ in range(SKIP_BATCHES + 2):  # absent, their characters there: costly searches spared
        assert kept.absent("abcd fe hg ji") == {"ef", "gh", "ij"}
    held = LiteralSet(short)  # every literal there: nothing spared
    text = " ".join(short)
    assert held.absent(text) == frozenset()
    assert held.absent("") == frozenset()  # skipped: the plans search themselves
    for _ in range(SKIP_BATCHES - 1):
        held.absent("")
    assert held.absent("") == set(short)  # tried again
    long = ["a" * 40 + c for c in "vwxyz"]  # cheap to rule out one by one (or by memchr)
    rare = LiteralSet(long)
    assert rare.absent("q") == set(long)
    assert rare.absent("q") == frozenset()


def test_few_literals_are_left_to_the_plans_searches() -> None:
    s = LiteralSet(["x", "y", "z"][: MIN_LITERALS - 1])
    assert s.absent("nothing here") == frozenset()
    assert len(LiteralSet(["a", "a", "b"])) == 2


def test_text_or_literals_that_utf8_cannot_hold_leave_the_searches_to_the_plans() -> None:
    """A lone surrogate (JSON's "\\ud800" in a journal entry) has no UTF-8 form: the Set
    says nothing rather than fail the batch."""
    lits = ["ab", "cd", "ef", "gh"]
    assert LiteralSet(lits).absent("ab x\ud800 fe") == frozenset()
    assert LiteralSet(lits).absent("ab x fe hg") == {"cd", "ef", "gh"}
    odd = LiteralSet([*lits, "x\udc80"])
    assert len(odd) == 5
    assert odd.absent("nothing") == frozenset()
