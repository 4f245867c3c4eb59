"""Parse the `collectors:` section into per-type collector configs (owned by the collectors part)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.yamlsource import MapReader, Mark

COLLECTOR_TYPES = ("file", "journald", "host", "prometheus", "command", "http")


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    name: str
    type: str
    mark: Mark
    options: dict[str, Any] = field(default_factory=dict)


def parse_collector(r: MapReader, base_dir: Path) -> CollectorConfig | None:
    name = r.str("name", required=True)
    ctype = r.choice("type", COLLECTOR_TYPES, required=True)
    options = {k: r.raw(k).plain() for k in r.keys() if k not in ("name", "type")}  # type: ignore[union-attr]
    r.done()
    if name is None or ctype is None:
        return None
    return CollectorConfig(name=name, type=ctype, mark=r.mark, options=options)
