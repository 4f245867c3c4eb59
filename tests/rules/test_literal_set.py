"""A source's literals told present or absent in one pass (rules/plans/literals.py): exactly
the literals `in` finds missing, whatever characters they hold; the pass is skipped for a while
where it spares less than it costs (never a wrong answer: an empty set is always true)."""

from __future__ import annotations

import random

import pytest

from alerter.rules.plans import literals
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


def line_starts_of(text: str, lits: set[str]) -> dict[str, list[int]]:
    """Each literal's lines' starts, line by line (the oracle)."""
    out: dict[str, list[int]] = {w: [] for w in lits}
    at = 0
    for line in text.split("\n"):
        for w in lits:
            if w in line:
                out[w].append(at)
        at += len(line) + 1
    return out


def test_starts_are_each_literals_lines_as_searching_each_line_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(literals, "INDEX_LITERALS", 1)
    monkeypatch.setattr(literals, "LINE_MS", 1e-12)  # (no budget: every text indexed)
    rnd = random.Random(5)
    plain = ALPHABET.replace("é", "").replace("€", "").replace("?", "")  # (the literals')
    indexed = 0
    for _ in range(400):
        lits: set[str] = set()
        while len(lits) < rnd.randint(MIN_LITERALS, 12):
            w = "".join(rnd.choice(plain) for _ in range(rnd.randint(1, 4)))
            lits.add(w.replace("\n", " "))
        s = LiteralSet(lits)
        assert s.indexes
        for _ in range(5):
            text = "".join(rnd.choice(ALPHABET) for _ in range(rnd.choice((0, 3, 30, 300))))
            absent = frozenset(w for w in lits if w not in text)
            got = s.starts(text, absent)
            if len(absent) == len(lits):
                assert got is None
                continue
            indexed += 1
            want = line_starts_of(text, lits)
            assert got == {w: v for w, v in want.items() if w not in absent}, (lits, text)
    assert indexed > 200


def test_starts_leave_the_lines_to_the_plans_where_they_cost_less() -> None:
    lits = {f"code={i} " for i in range(literals.INDEX_LITERALS)}
    s = LiteralSet(lits)
    sparse = "\n".join(
        f"ok {i:<97}" if i % 40 else f"ERROR code={i // 40} x" for i in range(2560)
    )  # (lines of 100 characters, one in 40 holding a literal)
    got = s.starts(sparse, frozenset())
    assert got is not None and got == line_starts_of(sparse, lits)
    # a literal on every line: finding each line costs more than the plans' 64 searches
    dense = "\n".join(f"ERROR code={i % 64} x" for i in range(50_000))
    assert s.starts(dense, frozenset()) is None
    assert s.starts(sparse, frozenset()) is None  # skipped for a while, then tried again
    for _ in range(SKIP_BATCHES - 1):
        s.starts(sparse, frozenset())
    assert s.starts(sparse, frozenset()) == got
    # characters outside ASCII, a lone surrogate in the text: found where they are
    odd = sparse.replace("ok 1", "ok é€\ud800?")
    assert s.starts(odd, frozenset()) == line_starts_of(odd, lits)
    # too few literals held; literals RE2 would read otherwise than `in` (outside ASCII, "?"
    # which stands for those, a newline): left to the plans
    assert s.starts(sparse, frozenset(list(lits)[:1])) is None
    for odd_literal in ("a\nb", "é", "a?"):
        assert not LiteralSet({*lits, odd_literal}).indexes
