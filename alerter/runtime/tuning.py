"""Process-wide tuning for the daemon, in one place: the C allocator and the garbage collector.

The daemon calls `tune_process()` once, before its collectors start, and `settle()` after
start-up and after each reload. Benches that time the daemon's parts call the same two.

**Allocator.** glibc serves an allocation above its mmap threshold (128 KiB to start with) from
a fresh mapping and unmaps it when freed, so every 1 MiB block the file collector reads, its
copy and its decoded text would fault in some 256 new pages. Measured on a 1M-line log here:
45 ns a line for read + copy + decode with 1 MiB blocks, 15 ns with the threshold raised (the
freed blocks are reused from the heap). The cost: up to TRIM_BYTES of freed heap stays mapped.
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

YOUNG = 5000

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_BYTES = 8 << 20  # above a 1 MiB block decoded as UCS-4 text (4 MiB)
TRIM_BYTES = 16 << 20

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


def _mallopt(param: int, value: int) -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(param, value))
