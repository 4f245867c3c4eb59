"""One line of Prometheus's text exposition format (0.0.4), read as Prometheus reads it
(prometheus/prometheus `model/textparse/promparse.go`, and its scrape loop for empty labels).

A sample is named as its line writes it. `# TYPE foo counter` then `foo 1` is the series `foo`,
as Prometheus stores it: no `_total` is added (prometheus_client's parser did, for the
OpenMetrics family it builds) and no `_total`, `_created`, `_bucket`, `_sum`, `_count` or
`_info` is added or taken away. HELP and TYPE lines are only checked (a TYPE must name one of
Prometheus's five types); other `#` lines are comments. Label values are unescaped for `\\\\`,
`\\"` and `\\n` only (any other backslash stays, as in Prometheus) and a label with an empty
value is no label. Names may be quoted (`{"my.metric", "a.b"="c"}`), as Prometheus 3 allows.

What Prometheus refuses is refused: a value that Go's ParseFloat would not read (or with `_`,
`p`, hex), out of float range, or followed by anything but an integer timestamp (milliseconds,
digits only); `__name__` given as a label; a label given twice; whitespace other than spaces
and tabs (a CRLF line ends in `\\r`). A line never spans a line break.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
MAX_TIMESTAMP = 2**63 - 1  # milliseconds: Go's int64

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_QUOTED = r'"((?:\\.|[^\\"])*)"'
_CLOSE = re.compile(r"[ \t]*\}")
_META = re.compile(r"#[ \t]+(HELP|TYPE)[ \t]+")
_META_NAME = re.compile(rf"(?:({_NAME})|{_QUOTED})(.*)")
_METRIC = re.compile(rf"({_NAME})[ \t]*")
_LABEL = re.compile(rf"[ \t]*(?:([a-zA-Z_][a-zA-Z0-9_]*)|{_QUOTED})[ \t]*")
_VALUE = re.compile(rf"=[ \t]*{_QUOTED}[ \t]*,?")
_TAIL = re.compile(r"[ \t]*([^{ \t]+)(?:[ \t]+([0-9]+))?[ \t]*")
# what Go's strconv.ParseFloat reads in decimal (no sign on NaN; inf or infinity, any case)
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf(?:inity)?))|(?i:nan)"
)
_ESCAPE = re.compile(r'\\([\\"n])')


@dataclass(frozen=True, slots=True)
class TextSample:
    """A sample line: its name, labels and value as written; `timestamp` in seconds."""

    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None


def parse_line(line: str) -> TextSample | None:
    """The sample on `line` (one line, without its line break), or None for a blank line, a
    comment, HELP or TYPE. Raises ValueError, saying what is wrong, where Prometheus would."""
    pos = len(line) - len(line.lstrip(" \t"))
    if pos == len(line):
        return None
    if line[pos] == "#":
        _check_meta(line, pos)
        return None
    name: str | None = None
    m = _METRIC.match(line, pos)
    if m is not None:
        name, pos = m.group(1), m.end()
    labels: dict[str, str] = {}
    if line.startswith("{", pos):
        name, pos = _labels(line, pos + 1, name, labels)
    if name is None:
        raise ValueError("expected a metric name")
    tail = _TAIL.fullmatch(line, pos)
    if tail is None:
        raise ValueError("expected a value and an optional timestamp (integer milliseconds)")
    value = _float(tail.group(1))
    timestamp: float | None = None
    if tail.group(2) is not None:
        ms = int(tail.group(2))
        if ms > MAX_TIMESTAMP:
            raise ValueError(f"timestamp out of range: {tail.group(2)}")
        timestamp = ms / 1000
    if "" in labels.values():  # Prometheus drops a label with an empty value
        labels = {k: v for k, v in labels.items() if v}
    return TextSample(name, labels, value, timestamp)


def _check_meta(line: str, pos: int) -> None:
    m = _META.match(line, pos)
    if m is None:  # a comment
        return
    kind = m.group(1)
    named = _META_NAME.match(line, m.end())
    if named is None:
        raise ValueError(f"expected a metric name after {kind}")
    if kind == "TYPE" and named.group(3)[1:] not in TYPES:
        raise ValueError(f"invalid metric type {named.group(3)[1:]!r}")


def _labels(
    line: str, pos: int, name: str | None, labels: dict[str, str]
) -> tuple[str | None, int]:
    """Read the labels after `{` into `labels`: the metric name (which a quoted string
    followed by `,` or `}` gives) and the position after `}`."""
    n = len(line)
    while True:
        close = _CLOSE.match(line, pos)
        if close is not None:
            return name, close.end()
        m = _LABEL.match(line, pos)
        if m is None:
            raise ValueError("expected a label name or '}'")
        pos = m.end()
        label = m.group(1)
        if label is None:  # quoted: a label name, or the metric name
            label = _unescape(m.group(2))
            if pos < n and line[pos] in ",}":
                if name is not None:
                    raise ValueError("metric name given twice")
                if not label:
                    raise ValueError("empty metric name")
                name = label
                if line[pos] == ",":
                    pos += 1
                continue
        v = _VALUE.match(line, pos)
        if v is None:
            raise ValueError(f"expected = and a quoted value after label {label!r}")
        pos = v.end()
        if label == "__name__" or not label:
            raise ValueError(f"invalid label name {label!r}")
        if label in labels:
            raise ValueError(f"label {label!r} given twice")
        labels[label] = _unescape(v.group(1))


def _float(text: str) -> float:
    if _FLOAT.fullmatch(text) is None:
        raise ValueError(f"invalid value {text!r}")
    value = float(text)
    if math.isinf(value) and text.lstrip("+-")[:1] not in "iI":
        raise ValueError(f"value out of range: {text!r}")
    return value


def _unescape(text: str) -> str:
    return _ESCAPE.sub(_unescaped, text) if "\\" in text else text


def _unescaped(m: re.Match[str]) -> str:
    c = m.group(1)
    return "\n" if c == "n" else c
