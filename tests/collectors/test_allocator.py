"""The allocator tuning the file collector applies: set once per process, and only on glibc."""

from __future__ import annotations

import platform

import pytest

from alerter.collectors import allocator


def test_thresholds_are_raised_on_glibc_and_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = allocator._mallopt

    def recording(param: int, value: int) -> bool:
        calls.append((param, value))
        return real(param, value)

    monkeypatch.setattr(allocator, "_mallopt", recording)
    monkeypatch.setattr(allocator, "_done", None)
    first = allocator.keep_blocks_mapped()
    assert allocator.keep_blocks_mapped() is first
    assert first is (platform.libc_ver()[0] == "glibc")
    assert calls[0] == (allocator.M_MMAP_THRESHOLD, allocator.MMAP_BYTES)
    assert len(calls) == (2 if first else 1)
