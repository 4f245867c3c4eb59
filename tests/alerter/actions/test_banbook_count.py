"""`BanBook.count` (asked at every ban decision, up to `global.max_bans` bans deep) against the
definition it replaced, the walk of every ban held: bans in force at `now`, by dry run and
family, through adds, replacements, failed applies, lifts, ends and the sweeps of ended bans."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from alerter.actions.banaddr import family, parse_address
from alerter.actions.banbook import Ban, BanBook
from alerter.store.db import StateStore

ADDRESSES = [
    parse_address(a) for a in ("203.0.113.7", "203.0.113.8", "2001:db8::7", "::ffff:198.51.100.9")
]


def walked(book: BanBook, now: float, dry: bool, fam: str | None) -> int:
    return sum(1 for b in book.in_force(now, dry) if fam is None or family(b.address) == fam)


@pytest.mark.parametrize("seed", range(8))
def test_count_is_the_number_of_bans_in_force(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = StateStore(tmp_path / "state")
    try:
        book = BanBook(store)
        now, held = 1000.0, []
        for _ in range(400):
            now += rng.choice([0, 0, 1, 5, 60, 700])
            op = rng.random()
            address, dry = rng.choice(ADDRESSES), rng.random() < 0.3
            if op < 0.55:
                ban = Ban(
                    0, address, (), now, now + rng.choice([1, 30, 600, 3600]), "ban", dry_run=dry
                )
                held.append(book.add(ban))
            elif op < 0.65 and held:
                book.forget(rng.choice(held))
            elif op < 0.8:
                book.lift(address, dry, now)
            for d in (False, True):
                for fam in (None, "ipv4", "ipv6"):
                    # (in_force sweeps ended bans: count first, as a decision asks it)
                    got = book.count(now, d, fam)
                    assert got == walked(book, now, d, fam), (now, d, fam)
    finally:
        store.close()


def test_count_does_not_walk_the_bans_held(tmp_path: Path) -> None:
    """Bans in force: a count reads its tallies, not every ban held (it walked them at every ban
    decision: 100k decisions of a storm past max_bans walked 10k bans each)."""
    store = StateStore(tmp_path / "state")
    try:
        book = BanBook(store)
        for i in range(2000):
            book.add(Ban(0, parse_address(f"10.0.{i // 250}.{i % 250}"), (), 0.0, 600.0, "ban"))
        book._force = _Unwalkable(book._force)
        assert book.count(1.0, False) == 2000 and book.count(1.0, False, "ipv6") == 0
        assert book.count(600.0, False) == 0
    finally:
        store.close()


class _Unwalkable(dict[Any, Any]):
    def items(self) -> Any:
        raise AssertionError("count walked the bans held")

    def values(self) -> Any:
        raise AssertionError("count walked the bans held")
