"""A window's examples: the last EXAMPLES lines added, each cut to EXAMPLE_CHARS, whichever
way they come (one at a time or a batch's last lines at once)."""

from __future__ import annotations

import random

from alerter.core.events import LogBatch
from alerter.rules.windows import EXAMPLE_CHARS, EXAMPLES, CountWindow
from tests.rules.helpers import engine


def expected(added: list[str]) -> tuple[str, ...]:
    return tuple(x[:EXAMPLE_CHARS] for x in added[-EXAMPLES:])


def test_examples_are_the_last_lines_cut_whatever_the_batches() -> None:
    rnd = random.Random(7)
    for _ in range(500):
        w = CountWindow()
        added: list[str] = []
        if rnd.random() < 0.5:  # a new key's window, made with its one line
            one = rnd.choice("ab") * rnd.choice((0, 80, EXAMPLE_CHARS))
            w = CountWindow.of(0, 1, one)
            added.append(one)
        for _ in range(rnd.randint(1, 6)):
            lines = [
                rnd.choice("ab") * rnd.choice((0, 1, 80, EXAMPLE_CHARS, EXAMPLE_CHARS + 1, 2000))
                for _ in range(rnd.randint(0, 5))
            ]
            if rnd.random() < 0.3 and lines:
                w.example(lines[0])
                added.append(lines[0])
            else:
                w.examples(lines if rnd.random() < 0.5 else tuple(lines))
                added.extend(lines)
            assert w.kept() == expected(added)
            assert type(w.kept()) is tuple


DISTINCT = r"""
groups:
  - name: g
    rules:
      - alert: ManyUsers
        logs: {match: 'Failed password for (?P<user>\S+) from (?P<ip>[\d.]+)'}
        aggregate: distinct
        field: user
        by: [ip]
        over: 10m
        threshold: ">= 1"
"""


def test_a_new_keys_examples_are_cut_in_a_batch_read_whole() -> None:
    # a keyed plan's first lines of a key (a distinct rule: not the count's own path)
    e = engine(DISTINCT)
    a, b = ("x" * 3000 + f" Failed password for {u * 3000} from 192.0.2.1" for u in "ab")
    batch = LogBatch("app", 0.0, lambda line: ({}, None), text=f"{a}\n{b}")
    e.process(batch, 0.0)
    (alert,) = e.alerts()
    assert alert.examples and all(len(x) <= EXAMPLE_CHARS for x in alert.examples)
    assert alert.examples == (a[:EXAMPLE_CHARS], b[:EXAMPLE_CHARS])
