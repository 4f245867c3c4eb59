"""Smoke test of bench/hostile.py: quick mode on a few cases prints a row with every figure per
case and exits 0 when every case holds (the cases' figures are the bench's to judge)."""

from __future__ import annotations

import re

import pytest

from tests.bench.run import run_bench

CASES = ("api-filter-regex", "content-length--1", "billion-laughs-hup")


@pytest.mark.integration
def test_quick_mode_prints_a_row_per_case() -> None:
    out = run_bench("hostile.py", "--quick", "--only", ",".join(CASES), timeout=300)
    text = out.stdout
    assert out.returncode == 0, text + out.stderr[-3000:]
    assert re.search(r"^hostile inputs \(quick\), \d+ s$", text, re.M), text
    for case in CASES:
        row = rf"^{re.escape(case)}\s+\d+\.\d\d\s+\d+\.\d\d\s+15\s+\d+/\d+/\d+\s+-?\d+\s+ok$"
        assert re.search(row, text, re.M), f"no row for {case}:\n{text}"
        assert re.search(rf"^{re.escape(case)}: \S", text, re.M), f"no note for {case}:\n{text}"
    assert "HTTP/1.1 400" in text  # Content-Length: -1 refused
    assert "exit 1" in text and "refused in" in text  # the bomb: check and SIGHUP
