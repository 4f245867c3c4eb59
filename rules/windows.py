"""Per-key windows of log rules: counters in time buckets, never lists of events.

A window `over` is cut into BUCKETS buckets of width over/BUCKETS; bucket i covers
[i*width, (i+1)*width). A bucket stays in the window while its end is after `now - over`, so an
event leaves the window at most one bucket width (over/120) after it is `over` old. Memory per
key is bounded by the number of buckets, whatever the event rate.

Events come in about time order, each placed in the bucket of its own time: the newest bucket
or a new one after it is the fast path; an event older than the newest bucket (a line whose
time steps back, lines of several writers interleaved) goes into its own bucket, found from the
newest end (`find_bucket`), so it leaves the window when its own time does. The engine only hands a
window events still inside it (older ones are late: alerter.rules.keyedwindows).

Every window keeps the last EXAMPLES matching lines (the alert's `examples`, read with `kept()`:
a tuple of strings, which the garbage collector stops tracking after its first pass, or the one
line itself), each cut to EXAMPLE_CHARS: a key's memory does not grow with the length of the
lines its writer chooses. Buckets are flat `[index, cell..., index, cell...]`; counts are kept in
an `array('q')` (8 bytes a number, no int objects), and a count window of one bucket (most keys
of a cache of 100k+ addresses: one failed login each) holds just its index: one small object and
its example per key.
"""

from __future__ import annotations

from array import array
from typing import Any

BUCKETS = 120
SPIKE_BUCKETS = 60  # per half of a spike's span
EXAMPLES = 3
EXAMPLE_CHARS = 512  # of an example line kept (notifications show them; Slack cuts at 3000)
QUANTILE_SAMPLES = 64  # values kept per bucket for quantiles (beyond that: a rolling sample)
DISTINCT_CAP = 10_000  # distinct values kept per bucket


def loaded_examples(lines: list[str]) -> tuple[str, ...] | str:
    """Saved examples as a window keeps them: one line as itself, more as a tuple."""
    return lines[0] if len(lines) == 1 else tuple(lines)


class Window:
    """Base: examples and the interface the engine uses."""

    __slots__ = ("due", "ex", "seq")
    # where alerter.rules.sweep filed the window (a bucket, or PARKED); None until then (set
    # by the windows a sweeping rule uses: reading an unset slot is slow), and the number of
    # the last inline evaluation of its key while its alert is active (unset before)
    due: float | None
    seq: int

    def __init__(self) -> None:
        self.ex: tuple[str, ...] | str = ()

    def kept(self) -> tuple[str, ...]:
        """The examples, oldest first."""
        ex = self.ex
        return (ex,) if type(ex) is str else ex  # type: ignore[return-value]

    def example(self, line: str) -> None:
        if len(line) > EXAMPLE_CHARS:
            line = line[:EXAMPLE_CHARS]
        ex = self.ex
        if type(ex) is str:
            self.ex = (ex, line)
        else:
            self.ex = (*ex[1:], line) if len(ex) >= EXAMPLES else (*ex, line)

    def examples(self, lines: list[str] | tuple[str, ...]) -> None:
        """Append several lines (the last of a batch), keeping the last EXAMPLES."""
        if len(lines) == 1:  # (most keys of a batch: one line each)
            self.example(lines[0])
            return
        if len(lines) >= EXAMPLES:
            ex = tuple(lines[-EXAMPLES:])
        else:
            ex = (*self.kept(), *lines)[-EXAMPLES:]
        if ex and max(map(len, ex)) > EXAMPLE_CHARS:  # (kept examples are cut already)
            ex = tuple([x[:EXAMPLE_CHARS] for x in ex])
        self.ex = ex

    def add(self, i: int, x: Any) -> None:
        raise NotImplementedError

    def expire(self, first: int) -> None:
        """Drop buckets before index `first`."""
        raise NotImplementedError

    def value(self) -> float | None:
        """The aggregate over what is left; None when undefined (no data)."""
        raise NotImplementedError

    def newest(self) -> int | None:
        """The index of the newest bucket; None when there is none."""
        raise NotImplementedError

    def oldest(self) -> int | None:
        """The index of the oldest bucket (the first to leave the window); None when there is
        none."""
        raise NotImplementedError

    def empty(self) -> bool:
        raise NotImplementedError

    def dump(self) -> list[Any]:
        raise NotImplementedError

    def load(self, data: list[Any]) -> None:
        raise NotImplementedError


def find_bucket(b: list[Any] | array[int], i: int, stride: int) -> tuple[int, bool]:
    """Where bucket i is in b (scanning back from the newest: an older event is usually
    recent), and whether it is there; if not, the position where it goes."""
    k = len(b) - stride
    while k >= 0 and b[k] > i:
        k -= stride
    if k >= 0 and b[k] == i:
        return k, True
    return k + stride, False


def drop_buckets(b: list[Any] | array[int], first: int, stride: int) -> int:
    """Number of leading list items (whole buckets) whose index is before first."""
    k, n = 0, len(b)
    while k < n and b[k] < first:
        k += stride
    return k


class CountWindow(Window):
    """count and rate: events per bucket, with a running total. `b` is None (empty), a bucket's
    index (one bucket, holding `total` events: no array for a key seen in one bucket), or a
    flat array of two buckets or more."""

    __slots__ = ("b", "total")

    def __init__(self) -> None:
        self.ex = ()
        self.b: array[int] | int | None = None
        self.total = 0
        self.due = None

    @classmethod
    def of(cls, i: int, n: int, ex: tuple[str, ...] | str) -> CountWindow:
        """A new window holding n events in bucket i (a new key's first batch at once)."""
        w = cls.__new__(cls)
        w.b, w.total, w.ex, w.due = i, n, ex, None
        return w

    def add(self, i: int, x: Any, n: int = 1) -> None:
        b = self.b
        if type(b) is int:
            if b != i:
                self.b = array("q", (b, self.total, i, n) if b < i else (i, n, b, self.total))
        elif b is None:
            self.b = i
        elif b[-2] < i:  # type: ignore[index]
            b.append(i)  # type: ignore[union-attr]
            b.append(n)  # type: ignore[union-attr]
        elif b[-2] == i:  # type: ignore[index]
            b[-1] += n  # type: ignore[index]
        else:  # an older bucket's event
            k, found = find_bucket(b, i, 2)  # type: ignore[arg-type]
            if found:
                b[k + 1] += n  # type: ignore[index]
            else:
                b[k:k] = array("q", (i, n))  # type: ignore[index]
        self.total += n

    def expire(self, first: int) -> None:
        b = self.b
        if type(b) is int:
            if b < first:
                self.b, self.total = None, 0
        elif b is not None and b[0] < first:  # type: ignore[index]
            k = drop_buckets(b, first, 2)  # type: ignore[arg-type]
            if k >= len(b):  # type: ignore[arg-type]
                self.b, self.total = None, 0
            else:
                self.total -= sum(b[1:k:2])  # type: ignore[index]
                del b[:k]  # type: ignore[union-attr]

    def buckets(self) -> list[int]:
        """The flat [index, events, ...] list, oldest bucket first."""
        b = self.b
        if b is None:
            return []
        return [b, self.total] if type(b) is int else b.tolist()  # type: ignore[union-attr]

    def value(self) -> float | None:
        return float(self.total)

    def newest(self) -> int | None:
        b = self.b
        return b if b is None or type(b) is int else b[-2]  # type: ignore[index]

    def oldest(self) -> int | None:
        b = self.b
        return b if b is None or type(b) is int else b[0]  # type: ignore[index]

    def empty(self) -> bool:
        return self.b is None

    def oldest_since(self, first: int) -> int | None:
        """The index of the oldest bucket from index first on (spike: the first to leave the
        current half of the span); None when there is none."""
        b = self.b
        if b is None or isinstance(b, int):
            return b if b is None or b >= first else None
        for k in range(0, len(b), 2):
            if b[k] >= first:
                return b[k]
        return None

    def count_since(self, first: int) -> int:
        """Events in buckets from index first on (spike: the current half of the span)."""
        b = self.buckets()
        return sum(b[k + 1] for k in range(0, len(b), 2) if b[k] >= first)

    def dump(self) -> list[Any]:
        return [self.buckets(), list(self.kept())]

    def load(self, data: list[Any]) -> None:
        b = [int(x) for x in data[0]]
        self.b = None if not b else b[0] if len(b) == 2 else array("q", b)
        self.total = sum(b[1::2])
        self.ex = loaded_examples(data[1])


class RatioWindow(Window):
    """ratio: [index, selected, also matching `of`] per bucket, with running totals."""

    __slots__ = ("b", "hits", "min_events", "n")

    def __init__(self, min_events: int) -> None:
        self.ex = ()
        self.b = array("q")
        self.n = 0
        self.hits = 0
        self.min_events = min_events
        self.due = None

    def add(self, i: int, x: Any) -> None:
        self.add_counts(i, 1, 1 if x else 0)

    def add_counts(self, i: int, n: int, hits: int) -> None:
        b = self.b
        if not b or b[-3] < i:
            b.extend((i, n, hits))
        elif b[-3] == i:
            b[-2] += n
            b[-1] += hits
        else:  # an older bucket's events
            k, found = find_bucket(b, i, 3)
            if found:
                b[k + 1] += n
                b[k + 2] += hits
            else:
                b[k:k] = array("q", (i, n, hits))
        self.n += n
        self.hits += hits

    def expire(self, first: int) -> None:
        b = self.b
        if b and b[0] < first:
            k = drop_buckets(b, first, 3)
            self.n -= sum(b[1:k:3])
            self.hits -= sum(b[2:k:3])
            del b[:k]

    def value(self) -> float | None:
        if self.n < self.min_events or self.n == 0:
            return None
        return self.hits / self.n

    def newest(self) -> int | None:
        return self.b[-3] if self.b else None

    def oldest(self) -> int | None:
        return self.b[0] if self.b else None

    def empty(self) -> bool:
        return not self.b

    def dump(self) -> list[Any]:
        return [self.b.tolist(), list(self.kept())]

    def load(self, data: list[Any]) -> None:
        self.b = array("q", [int(x) for x in data[0]])
        self.n = sum(self.b[1::3])
        self.hits = sum(self.b[2::3])
        self.ex = loaded_examples(data[1])


class ChangeWindow(CountWindow):
    """change: how many times the field's value differed from the previous event's."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def add(self, i: int, x: Any, n: int = 1) -> None:
        prev, self.last = self.last, x
        if prev is not None and prev != x:
            super().add(i, x)

    def empty(self) -> bool:
        return False  # the last value must be remembered; keys are capped by max_keys

    def dump(self) -> list[Any]:
        return [self.buckets(), list(self.kept()), self.last]

    def load(self, data: list[Any]) -> None:
        super().load(data)
        self.last = data[2]


class AbsentWindow(Window):
    """absent: when the key last matched (the newest time added, not a bucket index)."""

    __slots__ = ("seen",)

    def __init__(self, seen: float = 0.0) -> None:
        self.ex = ()
        self.seen = seen
        self.due = None  # (alerter.rules.absentsweep: the time it is filed at)

    def add(self, i: int, x: Any) -> None:
        if x > self.seen:  # an older line does not make the key less silent
            self.seen = x

    def expire(self, first: int) -> None:
        pass

    def newest(self) -> int | None:
        return None  # (not buckets: the time last seen)

    def oldest(self) -> int | None:
        return None

    def value(self) -> float | None:
        return self.seen

    def empty(self) -> bool:
        return False

    def dump(self) -> list[Any]:
        return [self.seen, list(self.kept())]

    def load(self, data: list[Any]) -> None:
        self.seen, self.ex = float(data[0]), loaded_examples(data[1])
