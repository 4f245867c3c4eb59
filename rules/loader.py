"""Load rule files into a RuleSet (stub; the rules part replaces it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rules.yamlsource import MapReader, Mark, Problems, SourceError, load_yaml


@dataclass(frozen=True, slots=True)
class Reference:
    kind: Literal["action", "source"]
    name: str
    mark: Mark


@dataclass(frozen=True, slots=True)
class RuleSet:
    groups: tuple[object, ...]

    @staticmethod
    def empty() -> RuleSet:
        return RuleSet(())

    def references(self) -> list[Reference]:
        return []


def load_rule_files(files: Sequence[tuple[str, str]], default_interval: float) -> RuleSet:
    p = Problems()
    for name, text in files:
        try:
            root = load_yaml(text, name)
        except SourceError as e:
            p.items.extend(e.problems)
            continue
        MapReader(root, p, "rule file").done(extra_known=("groups",))
    p.raise_if_any()
    return RuleSet(())
