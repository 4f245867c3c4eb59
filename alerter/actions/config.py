"""Parse the `actions:` section."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.yamlsource import MapReader, Mark

ACTION_TYPES = ("systemd", "signal", "command", "throttle")


@dataclass(frozen=True, slots=True)
class ActionConfig:
    name: str
    type: str
    mark: Mark
    options: dict[str, Any] = field(default_factory=dict)


def parse_action(r: MapReader, protected_units: tuple[str, ...], base_dir: Path) -> ActionConfig | None:
    name = r.str("name", required=True)
    atype = r.choice("type", ACTION_TYPES, required=True)
    options = {k: r.raw(k).plain() for k in r.keys() if k not in ("name", "type")}  # type: ignore[union-attr]
    r.done()
    if name is None or atype is None:
        return None
    return ActionConfig(name=name, type=atype, mark=r.mark, options=options)
