"""Smoke test of bench/ban.py: its quick mode bans addresses with both alerter and fail2ban and
prints every figure (the figures themselves are not judged here)."""

from __future__ import annotations

import re

import pytest

from tests.bench.run import run_bench


@pytest.mark.integration
def test_quick_mode_bans_with_both_and_prints_the_figures() -> None:
    out = run_bench("ban.py", "--quick")
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for name in ("alerter", "fail2ban"):
        assert re.search(rf"^{name} +p50 +[\d.]+ ms +p99 +[\d.]+ ms .* banned 3/3$", text, re.M), (
            text
        )
    assert re.search(r"^fail2ban backend: \w+$", text, re.M), text
    assert re.search(r"fail2ban p50 / alerter p50 = [\d.]+x", text), text
