"""Process-wide tuning for the daemon, in one place: the C allocator and the garbage collector.

The daemon calls `tune_process()` once, before its collectors start, and `settle()` after
start-up and after each reload. Benches that time the daemon's parts call the same two.

**Allocator.** glibc serves an allocation above its mmap threshold (128 KiB to start with) from
a fresh mapping and unmaps it when freed, so every 1 MiB block the file collector reads, its
copy and its decoded text would fault in some 256 new pages. Measured on a 1M-line log here:
45 ns a line for read + copy + decode with 1 MiB blocks, 15 ns with the threshold raised (the
freed blocks are reused from the heap). The cost: up to TRIM_BYTES of freed heap stays mapped
at its top, and free space inside it stays too, until `HeapTrim` hands it back.
Elsewhere than glibc (musl, or no libc to load) this does nothing.

**Garbage collector.** The engine keeps a window object per rule key (100k and more on a busy
host), and start-up leaves a few hundred thousand more (Jinja, structlog, prometheus_client, the
rules). CPython's full collections walk all of them again and again while the engine makes new
windows. `gc.freeze()` moves what exists into a generation that no collection walks; a reload
unfreezes first, so that what the replaced configuration leaves (cycles included) is collected,
then freezes again. The young generation's threshold goes from 700 allocations to YOUNG: fewer
collections, each as cheap. bench/rules.py, which applies the same settings: the engine with all
packs took 552 ns a line with CPython's defaults and 505 with these (a rule making a new key per
4xx line: 147 -> 103).
"""

from __future__ import annotations

import ctypes
import gc
import threading
from collections.abc import Callable
from typing import cast

YOUNG = 5000

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_BYTES = 8 << 20  # above a 1 MiB block decoded as UCS-4 text (4 MiB)
TRIM_BYTES = 16 << 20
TRIM_EVERY_BYTES = 8 << 20  # processed between trims, by the bus's measure (HeapTrim)

_lock = threading.Lock()
_allocator_tuned: bool | None = None


def tune_process() -> bool:
    """Once per process, before the collectors start: raise glibc's mmap and trim thresholds.
    True if they are set (False off glibc); calling it again changes nothing."""
    global _allocator_tuned
    with _lock:
        if _allocator_tuned is None:
            _allocator_tuned = _mallopt(M_MMAP_THRESHOLD, MMAP_BYTES) and _mallopt(
                M_TRIM_THRESHOLD, TRIM_BYTES
            )
        return _allocator_tuned


def settle() -> None:
    """After start-up or a reload: collect what is garbage, freeze the rest."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG, older, oldest)


class HeapTrim:
    """Hands the C heap's free pages back to the system every TRIM_EVERY_BYTES the engine has
    processed, by the bus's measure of what it queued (a block's text and 64 bytes a line;
    glibc's malloc_trim(0); nothing elsewhere).

    The freed blocks of a busy read (1 MiB blocks, their runs' slices, the old tables of a
    key table that grew) leave free space inside the heap that the trim threshold, which only
    looks at its top, never returns: measured here (bench/daemon.py, 200k new keys), 27 MB of a
    44 MB heap, and a peak RSS of 154-158 MB, 140-141 with a trim every 8 MiB (147-149 every 16).
    A trim took 0.8-7.6 ms in the daemon, and the next blocks fault their pages in again: about
    3% of the CPU of a 1M-line read of a busy log."""

    def __init__(self) -> None:
        self._last = 0  # the total at the last trim
        self._trim = _malloc_trim()

    def reached(self, total: int) -> None:
        """`total`: the bytes processed so far (the bus's `taken`)."""
        if total - self._last >= TRIM_EVERY_BYTES and self._trim is not None:
            self._last = total
            self._trim(0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return cast("Callable[[int], int]", trim)


def _mallopt(param: int, value: int) -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(param, value))
