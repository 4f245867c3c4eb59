"""The daemon's garbage-collector settings: garbage collected first, the rest frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from alerter.runtime import tuning


class Node:
    def __init__(self) -> None:
        self.next: Node | None = None


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settle_collects_cycles_then_freezes_the_rest() -> None:
    dead, live = Node(), Node()
    dead.next, live.next = dead, live  # a cycle to collect, and one still referenced
    gone = weakref.ref(dead)
    del dead
    tuning.settle()
    assert gone() is None  # collected before the freeze, not kept for ever
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == tuning.YOUNG
    assert not any(o is live for o in gc.get_objects())  # frozen: no collection walks it


def test_settle_again_releases_what_the_last_freeze_kept() -> None:
    n = Node()
    n.next = n
    tuning.settle()  # n frozen while referenced
    gone = weakref.ref(n)
    del n  # garbage now, but frozen: only an unfreeze lets a collection find it
    tuning.settle()
    assert gone() is None
