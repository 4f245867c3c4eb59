"""Which of the user's regexes run in RE2, not in Python's `re`: `alerter check` notes each.

A pattern that `re` could run in more than linear time on some line runs in RE2
(core/saferegex.py): as safe, but about 1 µs a line it searches here, where `re` takes 0.1 µs
for most patterns that start with a literal. The notes say where, so that whoever cares about
a busy log's cost can rewrite the pattern; nothing is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerter.collectors.file import FileConfig
from alerter.config.collectors import CollectorConfig
from alerter.core.re2engine import Re2Pattern
from alerter.core.saferegex import compile_pattern
from alerter.core.yamlsource import Problem
from alerter.rules.model import RuleSet

WHY = "Python's re could take more than linear time on some line; about 1 µs a line searched"


def re2_notes(rules: RuleSet, collectors: Sequence[CollectorConfig]) -> list[Problem]:
    """A note for each rule's `match` or `exclude`, and each file collector's parser `pattern`
    or multiline `start`, that runs in RE2. The shipped packs' never do."""
    out: list[Problem] = []
    for c in collectors:
        spec = c.spec
        if not isinstance(spec, FileConfig):
            continue
        for what, pattern in (
            ("parser pattern", spec.parser.pattern if spec.parser.type == "regex" else None),
            ("multiline start", spec.multiline.start if spec.multiline is not None else None),
        ):
            if pattern is not None and isinstance(compile_pattern(pattern), Re2Pattern):
                out.append(
                    Problem(c.mark, f"note: collector {c.name}: its {what} runs in RE2 ({WHY})")
                )
    for g in rules.groups:
        for r in getattr(g, "rules", ()):
            if r.logs is None or r.mark.file.startswith("builtin:"):
                continue
            for key, rx in (("match", r.logs.match), ("exclude", r.logs.exclude)):
                if isinstance(rx, Re2Pattern):
                    out.append(Problem(r.mark, f"note: {r.alert}: its {key} runs in RE2 ({WHY})"))
    return out
