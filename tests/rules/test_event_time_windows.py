"""Windows place each event in the bucket of its own time (DESIGN "Event time"), also when a
line's time steps back: the event leaves the window when its own time does."""

from __future__ import annotations

from typing import Any

import pytest

from alerter.rules.valuewindows import DistinctWindow, LastWindow, QuantileWindow, StatsWindow
from alerter.rules.windows import AbsentWindow, CountWindow, RatioWindow, Window


def buckets(w: Window) -> list[int]:
    # (the other windows' bucket array, b, is theirs alone: no part of Window's interface)
    b: Any = w.buckets() if isinstance(w, CountWindow) else w.b  # type: ignore[attr-defined]
    stride = {CountWindow: 2, RatioWindow: 3, StatsWindow: 5, QuantileWindow: 3}.get(type(w), 2)
    return [int(b[k]) for k in range(0, len(b), stride)]


@pytest.mark.parametrize(
    "make",
    [CountWindow, lambda: StatsWindow("sum"), lambda: QuantileWindow(0.5), DistinctWindow],
    ids=["count", "sum", "quantile", "distinct"],
)
def test_an_older_event_goes_into_its_own_bucket(make: Any) -> None:
    w = make()
    for i, x in [(10, 1.0), (14, 2.0), (12, 3.0), (10, 4.0), (11, 5.0), (14, 6.0)]:
        w.add(i, x)
    assert buckets(w) == [10, 11, 12, 14]
    w.expire(12)  # buckets 10 and 11 leave: what was added to them goes with them
    assert buckets(w) == [12, 14]
    if isinstance(w, CountWindow):
        assert w.value() == 3.0
    elif isinstance(w, StatsWindow):
        assert w.value() == 3.0 + 2.0 + 6.0
    elif isinstance(w, QuantileWindow):
        assert w.value() == 3.0  # median of 2, 3, 6
    else:
        assert w.value() == 3.0  # distinct 2, 3, 6


def test_count_window_total_follows_placed_counts() -> None:
    w = CountWindow()
    w.add(20, None, 5)
    w.add(5, None, 2)  # far older: placed first, not counted in bucket 20
    w.add(20, None, 1)
    assert w.buckets() == [5, 2, 20, 6]
    assert w.value() == 8.0
    w.expire(6)
    assert w.value() == 6.0
    assert w.count_since(20) == 6


def test_ratio_window_places_older_counts() -> None:
    w = RatioWindow(min_events=1)
    w.add_counts(30, 4, 1)
    w.add_counts(29, 4, 3)
    assert w.b.tolist() == [29, 4, 3, 30, 4, 1]
    assert w.value() == 0.5
    w.expire(30)
    assert w.value() == 0.25


def test_quantile_add_many_into_an_older_bucket() -> None:
    w = QuantileWindow(1.0)
    w.add(9, 1.0)
    w.add_many(7, [100.0, 50.0])
    assert buckets(w) == [7, 9]
    assert w.value() == 100.0
    w.expire(8)
    assert w.value() == 1.0


def test_last_and_absent_do_not_go_back_in_time() -> None:
    last = LastWindow()
    last.add(10, 1.0)
    last.add(9, 2.0)  # an older line's value is not the last one
    assert last.value() == 1.0
    last.add(10, 3.0)
    assert last.value() == 3.0
    absent = AbsentWindow()
    absent.add(0, 500.0)
    absent.add(0, 100.0)
    assert absent.value() == 500.0


def test_count_window_of_one_bucket_grows_and_shrinks_like_many() -> None:
    """A window holding one bucket keeps its index alone; a second bucket, before or after it,
    makes the flat array; expiring it all empties the window; dump and load keep the form."""
    for second, flat in [(9, [9, 2, 12, 4]), (15, [12, 4, 15, 2])]:
        w = CountWindow.of(12, 3, "line")
        assert (w.buckets(), w.newest(), w.kept(), w.empty()) == ([12, 3], 12, ("line",), False)
        w.add(12, None)
        w.add(second, None, 2)
        assert w.buckets() == flat and w.value() == 6.0
        assert w.newest() == max(12, second)
        copy = CountWindow()
        copy.load(w.dump())
        assert copy.buckets() == flat and copy.value() == 6.0
        w.expire(13 if second == 15 else 10)
        assert w.buckets() == ([15, 2] if second == 15 else [12, 4])
        w.expire(100)
        assert (w.buckets(), w.value(), w.newest(), w.empty()) == ([], 0.0, None, True)
        w.add(0, None)  # bucket 0 is a bucket, not an empty window
        assert (w.buckets(), w.empty(), w.count_since(0)) == ([0, 1], False, 1)
    one = CountWindow()
    one.load([[7, 2], ["a", "b"]])
    assert (one.buckets(), one.value(), one.kept()) == ([7, 2], 2.0, ("a", "b"))
