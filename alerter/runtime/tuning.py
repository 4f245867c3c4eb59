"""Garbage-collector settings for the daemon: what exists after start-up is frozen.

The engine keeps a window object per rule key (100k and more on a busy host), and start-up
leaves a few hundred thousand more (Jinja, structlog, prometheus_client, the rules). CPython's
full collections walk all of them again and again while the engine makes new windows.
`gc.freeze()` moves what exists into a generation that no collection walks; a reload unfreezes
first, so that what the replaced configuration leaves (cycles included) is collected, then
freezes again. The young generation's threshold goes from 700 allocations to YOUNG: fewer
collections, each as cheap.

bench/rules.py, which applies the same settings: the engine with all packs took 552 ns a line
with CPython's defaults and 505 with these (a rule making a new key per 4xx line: 147 -> 103).
"""

from __future__ import annotations

import gc

YOUNG = 5000


def settle() -> None:
    """After start-up or a reload: collect what is garbage, freeze the rest."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG, older, oldest)
