"""The values that flow from collectors to the rules engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

EMPTY: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log line (or joined multiline event) with the fields its parser extracted.

    `time` is epoch seconds: the time parsed from the line when the parser has one, else the
    time it was read.
    """

    time: float
    source: str  # collector name
    line: str
    fields: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Sample:
    """One metric sample. `labels` never includes `__name__`."""

    time: float
    source: str  # collector name
    name: str
    labels: Mapping[str, str]
    value: float


Event = LogEvent | Sample
