"""The daemon's process-wide tuning: the garbage collector (garbage collected first, the rest
frozen) and glibc's allocator (large blocks reused from the heap)."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest

from alerter.runtime import tuning


class Node:
    def __init__(self) -> None:
        self.next: Node | None = None


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settle_collects_cycles_then_freezes_the_rest() -> None:
    dead, live = Node(), Node()
    dead.next, live.next = dead, live  # a cycle to collect, and one still referenced
    gone = weakref.ref(dead)
    del dead
    tuning.settle()
    assert gone() is None  # collected before the freeze, not kept for ever
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == tuning.YOUNG
    assert not any(o is live for o in gc.get_objects())  # frozen: no collection walks it


def test_settle_again_releases_what_the_last_freeze_kept() -> None:
    n = Node()
    n.next = n
    tuning.settle()  # n frozen while referenced
    gone = weakref.ref(n)
    del n  # garbage now, but frozen: only an unfreeze lets a collection find it
    tuning.settle()
    assert gone() is None


MMAPPED_AFTER_A_BLOCK = """
import ctypes, sys
from alerter.runtime import tuning

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
tuned = None
if sys.argv[1] == "tuned":
    tuned = tuning.tune_process()
    assert tuning.tune_process() is tuned  # a second call: the same answer
before = libc.mallinfo2().hblks
block = bytearray(4 << 20)  # a 1 MiB read block decoded as UCS-4 text
print(tuned, libc.mallinfo2().hblks - before)
"""


def _mmapped_after_a_block(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", MMAPPED_AFTER_A_BLOCK, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return out[0], int(out[1])


def test_tune_process_serves_large_blocks_from_the_heap_on_glibc() -> None:
    """Each in a fresh process (the allocator setting is process-wide): a 4 MiB block is a new
    mapping with glibc's defaults, and comes from the heap once the process is tuned."""
    if platform.libc_ver()[0] != "glibc":
        assert tuning.tune_process() is False
        return
    _, untuned = _mmapped_after_a_block("default")
    tuned, after = _mmapped_after_a_block("tuned")
    assert untuned == 1
    assert (tuned, after) == ("True", 0)


RSS_AFTER_TRIM = """
import sys
from alerter.runtime import tuning

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

tuning.tune_process()
held, freed = [], []
for i in range(128):  # 1 MiB blocks (under the raised mmap threshold: the heap), every other
    (held if i % 2 else freed).append(bytearray(b"x" * (1 << 20)))  # kept: holes in the heap
del freed
trim = tuning.HeapTrim()
before = rss_kb()
trim.reached(tuning.TRIM_EVERY_BYTES - 1)
between = rss_kb()
trim.reached(tuning.TRIM_EVERY_BYTES)
print(before, between, rss_kb())
"""


def test_heap_trim_hands_free_heap_back_every_so_many_bytes_processed() -> None:
    """In a fresh process: 64 MiB freed in holes between live blocks stay resident until
    TRIM_EVERY_BYTES of text have been processed, then go back to the system."""
    if platform.libc_ver()[0] != "glibc":
        tuning.HeapTrim().reached(tuning.TRIM_EVERY_BYTES)  # nothing to do, nothing raised
        return
    out = subprocess.run(
        [sys.executable, "-c", RSS_AFTER_TRIM],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    before, between, after = map(int, out)
    assert between > before - 8 * 1024  # (kB) not yet
    assert after < before - 48 * 1024  # most of the 64 MiB of holes returned
