"""Smoke test of bench/daemon.py: its quick mode runs the real daemon through every case and
prints every figure (the figures themselves are not judged here)."""

from __future__ import annotations

import re

import pytest

from tests.bench.run import run_bench

NUM = r"\d[\d.,]*[kM]?(?:-\d[\d.,]*[kM]?)?"  # a figure, or a min-max range of them


@pytest.mark.integration
def test_quick_mode_prints_every_figure() -> None:
    out = run_bench("daemon.py", "--quick")
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    expected = [
        r"daemon bench: 1 run\(s\), 100,000 lines a case, \d+ CPUs",
        *(
            rf"{case}\s+{NUM} lines/s  bare {NUM}  ratio {NUM}"
            for case in (
                "1 sshd rule, syslog parser",
                "1 sshd rule, parser none",
                "all packs, auth\\+access",
                "2000 rules, one an address",
            )
        ),
        *[rf"CPU {NUM} s = {NUM} of wall, scan helper {NUM} s; alerts fired {NUM}"] * 4,
        rf"1 sshd rule, syslog parser\s+{NUM} lines/s \(goal >= 1M\)  {NUM} lines per CPU second  "
        rf"start-up {NUM} s",
        *(
            rf"{case}\s+{NUM} lines/s\s+{NUM} lines per CPU second  start-up {NUM} s"
            for case in ("sshd pack, syslog parser", "all packs, auth\\+access")
        ),
        rf"peak RSS at 20,000 live keys: VmHWM {NUM} MB \(goal < 150 MB\); VmRSS at ready {NUM} "
        rf"MB, at the end {NUM} MB; scan helper {NUM} MB; keys evicted {NUM}",
        rf"reload \(SIGHUP, config unchanged\) at 20,000 live keys: {NUM} s = {NUM} of the time "
        rf"the daemon took to read and count their lines \({NUM} s\); VmHWM after it {NUM} MB",
        rf"restart on that state: ready in {NUM} s = {NUM} of the counting time; VmHWM {NUM} MB "
        r"\(goal < 150 MB\)",
        rf"line -> webhook latency \(20 lines a run\): p50 {NUM} ms, p99 {NUM} ms "
        rf"\(goal < 300 ms\), max {NUM} ms, missed {NUM}",
    ]
    missing = [p for p in expected if not re.search(p, text)]
    assert not missing, f"not printed: {missing}\n{text}"
    assert len(re.findall(r"CPU .* of wall", text)) == 4, text
    assert len(re.findall(r"goal >= 1M", text)) == 1, text
