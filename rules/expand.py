"""promtool's expanding notation for `input_series` values.

`a+bxn` is the n+1 values a, a+b, ..., a+n*b; `a-bxn` counts down; `axn` repeats a n+1 times;
`_` is one missing sample, `_xn` n missing samples; `stale` a staleness marker. Examples:
`-2+4x3` = -2 2 6 10; `1 _x3 stale` = 1 _ _ _ stale; `10+10x2 30+20x5` = 10 20 30 30 50 70 90
110 130.
"""

from __future__ import annotations

import re

from alerter.core.events import STALE_NAN

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN"
_UNSIGNED = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|Inf"
_SERIES_RE = re.compile(rf"^({_NUM})([-+])({_UNSIGNED})x(\d+)$")
_REPEAT_RE = re.compile(rf"^({_NUM})x(\d+)$")
_NUM_RE = re.compile(rf"^(?:{_NUM})$")
_MISSING_RE = re.compile(r"^_(?:x(\d+))?$")

MISSING = None
MAX_VALUES = 1_000_000  # values one series, or entries one repeat, may expand to (held in memory)


def _float(text: str) -> float:
    return float(text.replace("Inf", "inf"))


def expand_values(text: str) -> list[float | None]:
    """Values in order; None is a missing sample, STALE_NAN a staleness marker. Raises ValueError."""
    out: list[float | None] = []
    for tok in text.split():
        if tok == "stale":
            out.append(STALE_NAN)  # Prometheus's staleness marker (a plain `NaN` is a value)
            continue
        m = _MISSING_RE.match(tok)
        if m:
            out.extend([MISSING] * _room(out, int(m.group(1)) if m.group(1) else 1, tok))
            continue
        m = _SERIES_RE.match(tok)
        if m:
            a, sign, b = _float(m.group(1)), m.group(2), _float(m.group(3))
            step = b if sign == "+" else -b
            out.extend(a + i * step for i in range(_room(out, int(m.group(4)) + 1, tok)))
            continue
        m = _REPEAT_RE.match(tok)
        if m:
            out.extend([_float(m.group(1))] * _room(out, int(m.group(2)) + 1, tok))
            continue
        if _NUM_RE.match(tok):
            out.append(_float(tok))
            continue
        raise ValueError(
            f"invalid value {tok!r} in {text!r}: expected a number, a+bxn, a-bxn, axn, _, _xn "
            "or stale"
        )
    return out


def _room(out: list[float | None], n: int, tok: str) -> int:
    """`n`, when `tok`'s n values fit in a series after `out`; else why not, as a ValueError
    (before a list of them is made: `0+1x100000000000000` would take the memory)."""
    if len(out) + n > MAX_VALUES:
        raise ValueError(
            f"invalid value {tok!r}: a series expands to at most {MAX_VALUES:,} values"
        )
    return n
