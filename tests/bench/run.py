"""A bench script (bench/<script>) run as its smoke test runs it: this interpreter, from the
checkout, its output captured as text."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def run_bench(script: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
