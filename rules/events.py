"""Event values for rule tests and replay. The engine reads any object of this shape (the
collectors' LogEvent and Sample have it); rules/ never imports collectors/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_EMPTY: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class LogLine:
    time: float
    source: str
    line: str
    fields: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class MetricSample:
    time: float
    source: str
    name: str
    labels: Mapping[str, str]
    value: float
