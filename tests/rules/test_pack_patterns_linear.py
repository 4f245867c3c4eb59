"""Every regex of the shipped packs (`match`, `exclude`, parser patterns) runs in linear time on
hostile lines (issue 11, point 1). This is what lets them run in Python's `re`, in the packs and
in a user's unchanged copy of one (alerter.config.rulefiles.shipped_patterns; the copy is read
with `re.ASCII`, which on these ASCII lines changes nothing and elsewhere only narrows the
classes).

Each pattern is fed 64 KB lines made of one character, one pair of characters, or one of the
pattern's own literal words (with a filler) repeated: the lines that make a backtracking pattern
try every start position and scan far from each. Its time is compared with a plain character
scan of the same line in the same run (`[\\x00]`: one class test per character). A linear
pattern costs at most a few hundred such scans (the worst here, an alternation tried at every
position, about 450); a quadratic one on 64 KB costs over 100,000 (builtin:kernel's old
`(?P<process>\\S+)\\[\\d+\\]: segfault at` took 26.8 s on one 60 KB line).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

PACKS = Path(__file__).resolve().parents[2] / "rules" / "packs"
LINE_BYTES = 65536
BOUND = 5000  # times a plain scan; 10x the worst linear pattern seen here
FILL = list('a0 .:-"[]()@x/\\=')
BASELINE = re.compile(r"[\x00]")


def pack_patterns() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str) and (k in ("match", "exclude") or str(k).endswith("pattern")):
                    found.append((where, v))
                walk(v, where)
        elif isinstance(node, list):
            for x in node:
                walk(x, where)

    for f in sorted(PACKS.glob("*.yaml")):
        walk(yaml.safe_load(f.read_text()), f.name)
    return found


def hostile_lines(pattern: str) -> Iterator[tuple[str, str]]:
    words = set(re.findall(r"[A-Za-z/@.:\"'=, -]{2,}", pattern.replace("\\", "")))
    tokens = [
        *FILL,
        *(a + b for a, b in itertools.product(FILL[:8], FILL[:8]) if a != b),
        *words,
        *(w + c for w in words for c in "a0 ."),
    ]
    for t in tokens:
        yield t, (t * (LINE_BYTES // len(t) + 1))[:LINE_BYTES]


def fastest(search: Callable[[str], object], line: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        search(line)
        best = min(best, time.perf_counter() - t)
    return best


def test_the_packs_have_patterns_to_check() -> None:
    assert len(pack_patterns()) >= 10


@pytest.mark.parametrize(("pack", "pattern"), pack_patterns())
def test_pack_pattern_is_linear_on_64kb_hostile_lines(pack: str, pattern: str) -> None:
    rx = re.compile(pattern)
    worst = (0.0, "")
    for token, line in hostile_lines(pattern):
        ratio = fastest(rx.search, line) / fastest(BASELINE.search, line)
        worst = max(worst, (ratio, token))
    assert worst[0] < BOUND, f"{pack}: {pattern!r} costs {worst[0]:.0f}x a scan on {worst[1]!r}"
