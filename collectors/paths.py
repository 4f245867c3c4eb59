"""The paths a file collector follows: its globs expanded, and which of their directories
changed between two looks."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable


def expand(patterns: Iterable[str]) -> list[str]:
    """Every path the patterns name, globs expanded (sorted), each once, in pattern order."""
    out: list[str] = []
    for pattern in patterns:
        out.extend(sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
    return list(dict.fromkeys(out))


class DirChanges:
    """Directories whose contents changed (a file created, renamed or removed: their mtime)
    between two calls of `changed`; one stat per directory."""

    def __init__(self) -> None:
        self._mtimes: dict[str, int] = {}  # directory -> mtime (ns) at the last look

    def changed(self, paths: Iterable[str]) -> set[str]:
        """The directories of `paths` that changed since the last call (none the first time
        a directory is looked at)."""
        out = set()
        seen: dict[str, int] = {}
        for d in {os.path.dirname(p) for p in paths}:
            try:
                seen[d] = os.stat(d or ".").st_mtime_ns
            except OSError:
                continue
            if d in self._mtimes and self._mtimes[d] != seen[d]:
                out.add(d)
        self._mtimes = seen
        return out
