"""Parse the `notifiers:` section."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.yamlsource import MapReader, Mark

NOTIFIER_TYPES = ("console", "slack", "webhook", "alertmanager")


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    name: str
    type: str
    mark: Mark
    options: dict[str, Any] = field(default_factory=dict)


def parse_notifier(r: MapReader, base_dir: Path) -> NotifierConfig | None:
    name = r.str("name", required=True)
    ntype = r.choice("type", NOTIFIER_TYPES, required=True)
    options = {k: r.raw(k).plain() for k in r.keys() if k not in ("name", "type")}  # type: ignore[union-attr]
    r.done()
    if name is None or ntype is None:
        return None
    return NotifierConfig(name=name, type=ntype, mark=r.mark, options=options)
