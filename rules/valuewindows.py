"""Per-key windows over a field's values: sum, avg, min, max (`StatsWindow`), last
(`LastWindow`), quantile (`QuantileWindow`) and distinct (`DistinctWindow`). Buckets and examples
as in alerter.rules.windows, whose `Window` they extend; the values a bucket holds are bounded
(QUANTILE_SAMPLES, DISTINCT_CAP)."""

from __future__ import annotations

import math
from typing import Any

from alerter.rules.windows import (
    DISTINCT_CAP,
    QUANTILE_SAMPLES,
    Window,
    drop_buckets,
    find_bucket,
    loaded_examples,
)


class ListWindow(Window):
    """Base of the windows whose buckets are one flat list `b`, saved as it is."""

    __slots__ = ("b",)

    def __init__(self) -> None:
        self.ex = ()
        self.b: list[Any] = []

    def empty(self) -> bool:
        return not self.b

    def dump(self) -> list[Any]:
        return [self.b, list(self.kept())]

    def load(self, data: list[Any]) -> None:
        self.b, self.ex = list(data[0]), loaded_examples(data[1])


class StatsWindow(ListWindow):
    """sum, avg, min, max of a numeric field: [index, n, sum, min, max] per bucket."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.ex = ()  # set here, not via super(): a window is built for every new key
        self.b = []
        self.kind = kind
        self.due = None

    def add(self, i: int, x: Any) -> None:
        b = self.b
        if not b or b[-5] < i:
            b.extend((i, 1, x, x, x))
            return
        k, found = (len(b) - 5, True) if b[-5] == i else find_bucket(b, i, 5)
        if not found:
            b[k:k] = [i, 1, x, x, x]
            return
        b[k + 1] += 1
        b[k + 2] += x
        if x < b[k + 3]:
            b[k + 3] = x
        if x > b[k + 4]:
            b[k + 4] = x

    def expire(self, first: int) -> None:
        b = self.b
        if b and b[0] < first:
            del b[: drop_buckets(b, first, 5)]

    def newest(self) -> int | None:
        return self.b[-5] if self.b else None

    def oldest(self) -> int | None:
        return self.b[0] if self.b else None

    def value(self) -> float | None:
        b = self.b
        if not b:
            return None
        kind = self.kind
        if kind == "sum":
            return float(sum(b[2::5]))
        if kind == "avg":
            return float(sum(b[2::5]) / sum(b[1::5]))
        if kind == "min":
            return float(min(b[3::5]))
        return float(max(b[4::5]))


class LastWindow(Window):
    """last: the newest value and its bucket."""

    __slots__ = ("i", "x")

    def __init__(self) -> None:
        self.ex = ()
        self.i: int | None = None
        self.x = 0.0
        self.due = None

    def add(self, i: int, x: Any) -> None:
        if self.i is None or i >= self.i:  # an older event's value is not the last
            self.i, self.x = i, x

    def expire(self, first: int) -> None:
        if self.i is not None and self.i < first:
            self.i = None

    def value(self) -> float | None:
        return None if self.i is None else float(self.x)

    def newest(self) -> int | None:
        return self.i

    def oldest(self) -> int | None:
        return self.i

    def empty(self) -> bool:
        return self.i is None

    def dump(self) -> list[Any]:
        return [self.i, self.x, list(self.kept())]

    def load(self, data: list[Any]) -> None:
        self.i, self.x, self.ex = data[0], float(data[1]), loaded_examples(data[2])


class QuantileWindow(ListWindow):
    """quantile of a numeric field: up to QUANTILE_SAMPLES values per bucket."""

    __slots__ = ("q",)

    def __init__(self, q: float) -> None:
        self.ex = ()
        self.b = []  # [index, seen, values, ...]
        self.q = q
        self.due = None

    def add(self, i: int, x: Any) -> None:
        b = self.b
        if not b or b[-3] < i:
            b.extend((i, 1, [x]))
            return
        k, found = (len(b) - 3, True) if b[-3] == i else find_bucket(b, i, 3)
        if not found:
            b[k:k] = [i, 1, [x]]
            return
        b[k + 1] += 1
        vals = b[k + 2]
        if len(vals) < QUANTILE_SAMPLES:
            vals.append(x)
        else:  # keep a spread sample: overwrite a slot that cycles with the count
            vals[(b[k + 1] * 7919) % QUANTILE_SAMPLES] = x

    def add_many(self, i: int, xs: list[float]) -> None:
        """The same as add(i, x) for each x in turn: free slots are filled, then each value
        overwrites the slot its count picks; the slots of 64 successive counts are all
        different, so only the last 64 overwrites leave a trace."""
        if not xs:
            return
        b = self.b
        if b and b[-3] > i:  # an older bucket's values (rare): one at a time
            for x in xs:
                self.add(i, x)
            return
        if not (b and b[-3] == i):
            b.extend((i, 0, []))
        seen, vals = b[-2], b[-1]
        free = max(QUANTILE_SAMPLES - len(vals), 0)
        vals.extend(xs[:free])
        seen += min(free, len(xs))
        rest = xs[free:]
        for k in range(max(len(rest) - QUANTILE_SAMPLES, 0), len(rest)):
            vals[((seen + k + 1) * 7919) % QUANTILE_SAMPLES] = rest[k]
        b[-2] = seen + len(rest)

    def expire(self, first: int) -> None:
        b = self.b
        if b and b[0] < first:
            del b[: drop_buckets(b, first, 3)]

    def newest(self) -> int | None:
        return self.b[-3] if self.b else None

    def oldest(self) -> int | None:
        return self.b[0] if self.b else None

    def value(self) -> float | None:
        vals = sorted(v for k in range(2, len(self.b), 3) for v in self.b[k])
        return quantile(self.q, vals)


def quantile(q: float, sorted_values: list[float]) -> float | None:
    """Linear interpolation between closest ranks (PromQL quantile_over_time)."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = q * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    w = rank - lo
    return float(sorted_values[lo] * (1 - w) + sorted_values[hi] * w)


class DistinctWindow(Window):
    """distinct: the set of field values seen per bucket."""

    __slots__ = ("b",)

    def __init__(self) -> None:
        self.ex = ()
        self.b: list[Any] = []  # [index, set, ...]
        self.due = None

    def add(self, i: int, x: Any) -> None:
        b = self.b
        if not b or b[-2] < i:
            b.extend((i, {x}))
            return
        k, found = (len(b) - 2, True) if b[-2] == i else find_bucket(b, i, 2)
        if not found:
            b[k:k] = [i, {x}]
        elif len(b[k + 1]) < DISTINCT_CAP:
            b[k + 1].add(x)

    def expire(self, first: int) -> None:
        b = self.b
        if b and b[0] < first:
            del b[: drop_buckets(b, first, 2)]

    def newest(self) -> int | None:
        return self.b[-2] if self.b else None

    def oldest(self) -> int | None:
        return self.b[0] if self.b else None

    def value(self) -> float | None:
        b = self.b
        if len(b) == 2:
            return float(len(b[1]))
        return float(len(set().union(*b[1::2])))

    def empty(self) -> bool:
        return not self.b

    def dump(self) -> list[Any]:
        return [[sorted(x) if isinstance(x, set) else x for x in self.b], list(self.kept())]

    def load(self, data: list[Any]) -> None:
        self.b = [set(x) if isinstance(x, list) else x for x in data[0]]
        self.ex = loaded_examples(data[1])
