"""A bulk pass's typed summary crosses the pipe to the scan helper as plain values and comes
back as the same summary."""

from __future__ import annotations

import pickle

import pytest

from alerter.rules.bulk import EMPTY_VALUE, NO_MATCH, Counted, Summary, Values
from alerter.runtime.scanworker import _plain_loads, _summary, _to_wire


@pytest.mark.parametrize(
    "summary",
    [NO_MATCH, EMPTY_VALUE, Counted(5, 2, ["a", "b"]), Values([1.5, 2.0], ["x"]), Values([], [])],
)
def test_a_summary_survives_the_wire(summary: Summary) -> None:
    wire = _plain_loads(pickle.dumps(_to_wire(summary)))
    assert _summary(wire) == summary
