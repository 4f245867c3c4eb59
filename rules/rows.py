"""A long list inside an engine snapshot, made piece by piece when it is read.

A rule with 200k keys dumps a 200k-item list of windows. Built whole, that list and its JSON are
three times the keys' own memory, and building it is mostly garbage-collector work. `Rows` stands
in its place in the snapshot the checkpoint writes (`Engine.snapshot(lazy=True)`): it holds how
to make the items, and `pieces(size)` makes them a few thousand at a time, so that one piece is
made, written and freed before the next (alerter.runtime.checkpoint). Iterating a Rows makes
every item, as the list would give them. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any


class Rows:
    """The items `make()` yields, in order, each time the Rows is read."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Iterable[Any]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[Any]:
        return iter(self.make())

    def pieces(self, size: int) -> Iterator[list[Any]]:
        """The items as lists of `size` (the last one shorter; none when there are no items)."""
        it = iter(self.make())
        while piece := list(islice(it, size)):
            yield piece


def materialize(doc: Any) -> Any:
    """`doc` with every Rows (as a dict value, at any depth) made into a list."""
    if isinstance(doc, Rows):
        return list(doc)
    if isinstance(doc, dict):
        return {k: materialize(v) for k, v in doc.items()}
    return doc
