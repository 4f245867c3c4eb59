"""Hostile inputs against a live daemon (issue 11): each input of the issue, one at a time, on a
fresh `alerter run` with a config an operator would write (alerter/harness/hostile.py: the system log
with builtin:kernel and builtin:sshd, a multiline application log, host metrics, a scraped
target, a webhook on loopback, the API behind a token, 1024 descriptors as systemd gives).

For each case: the daemon is started and kept busy with a trickle of log lines (20/s); the RSS
of the daemon and its helper processes is read; the input is applied; the daemon is watched for
a few seconds more and until it has counted every line written (catch-up); then a table row:

  gap wd     longest interval between two watchdog pings (the bench is the daemon's
             NOTIFY_SOCKET with WATCHDOG_USEC=400ms: the main loop pings every 0.2 s when well)
  gap gauge  alerter_main_loop_longest_gap_seconds at the end (the daemon's own view, since
             its start, so the case's fresh daemon makes it the case's)
  goal       15 s: packaging/alerter.service has WatchdogSec=30s and the loop pings every 15 s
  RSS        before the input, highest while it ran, after (MiB, daemon + helpers)
  result     ok when both gaps are under the goal, RSS grew by less than 128 MiB (twice the
             bus's byte bound) plus 1 KiB for each key the case's rules may hold by their
             max_keys, the daemon answered /-/ready at the end, counted every line,
             and the case's own check held (in its note)

    .venv/bin/python bench/hostile.py [--quick] [--only NAME[,NAME]] [--keep DIR]

--quick runs smaller inputs (sizes in the notes) and watches 3 s instead of 8 s after each.
Network: 127.0.0.1 only. Every process started is ended by its PID.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

# the checkout's packages first (bench/rules.py is not the rules package), this directory after
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

import hostile_cases as cases
from hostile_ctx import GOAL_GAP, Ctx

from alerter.harness.hostile import MIB, Harness, syslog_line, tree_rss, wait_for
from alerter.harness.servers import RawServer, metrics_target, ok

GOAL_RSS = 128 * MIB
KEY_BYTES = 1024  # what one held key of a keyed count rule costs, at most (sshd lines)
STOP_TIMEOUT = 15.0  # packaging/alerter.service: TimeoutStopSec=15s


@dataclass
class Row:
    name: str
    gap_wd: float | None = None
    gap_gauge: float | None = None
    rss_before: int = 0
    rss_peak: int = 0
    rss_after: int = 0
    passed: bool = False
    note: str = ""


class Trickle:
    """A normal load: two syslog lines every 0.1 s that match no rule."""

    def __init__(self, h: Harness) -> None:
        self._h = h
        self._stop = threading.Event()
        self._n = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="trickle")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._n += 1
            text = syslog_line(f"heartbeat n={self._n} ok") + syslog_line("worker idle")
            self._h.syslog.write(text, 2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_case(case: cases.Case, root: Path, quick: bool) -> Row:
    row = Row(case.name)
    d = root / re.sub(r"[^A-Za-z0-9-]+", "_", case.name)
    d.mkdir()
    hook = RawServer(case.hook or ok, "/hook")
    target = RawServer(metrics_target, "/metrics")
    extra = case.servers(d) if case.servers else []
    h = Harness(d, hook.url, target.url, **(case.config(extra) if case.config else {}))
    trickle: Trickle | None = None
    ctx = Ctx(h, hook, extra, quick)
    try:
        try:
            h.start()
            trickle = Trickle(h)
            if not wait_for(lambda: h.value("alerter_events_total", collector="syslog") > 0, 30):
                raise RuntimeError("the trickle never reached the engine")
        except Exception as e:
            row.note = f"could not start: {type(e).__name__}: {e}"
            return row
        row.rss_before = h.sampler.reset()
        h.begin()
        try:
            passed, note = case.run(ctx)
        except Exception as e:  # the case's own step failed: the daemon is measured all the same
            passed, note = False, f"ERROR {type(e).__name__}: {e}"
        measure(h, row, ctx, GOAL_RSS + case.held_keys * KEY_BYTES)
        row.passed = passed and row.passed
        row.note = "; ".join([note, *row.note.split("; ")]).rstrip("; ")
    finally:
        if trickle is not None:
            trickle.stop()
        ctx.close()
        code, stopping = h.close()
        for s in (hook, target, *extra):
            s.close()
    if code == -signal.SIGKILL:
        row.note += f"; SIGTERM did not stop it in {stopping:.0f} s: SIGKILLed"
    elif code != 0:
        row.note += f"; exit status {code} after SIGTERM"
    elif stopping > STOP_TIMEOUT:
        row.note += f"; SIGTERM took {stopping:.1f} s"
    row.passed = row.passed and code == 0 and stopping <= STOP_TIMEOUT
    return row


def measure(h: Harness, row: Row, ctx: Ctx, rss_goal: int) -> None:
    """After the input: the daemon under its normal load for a while, until every line written
    is counted, then the figures."""
    time.sleep(ctx.size(1.0, 3.0))
    caught = wait_for(lambda: h.behind() <= 0, ctx.size(60, 300))
    time.sleep(ctx.size(2.0, 5.0))
    h.end()
    row.gap_wd, row.gap_gauge = h.longest_gap(), max(h.metric_gaps, default=None)
    row.rss_peak, row.rss_after = max(h.sampler.peak, row.rss_before), tree_rss(h.pid)
    ready = wait_for(lambda: requests.get(f"{h.url}/-/ready", timeout=5).status_code == 200, 5)
    behind = wait_for(lambda: str(h.behind()), 5)
    problems = [
        *([] if caught else [f"{behind or 'unknown'} lines not counted"]),
        *([] if ready else ["not ready at the end"]),
        *([] if row.gap_gauge is not None else ["/metrics did not answer"]),
    ]
    row.passed = (
        not problems
        and row.gap_wd < GOAL_GAP
        and (row.gap_gauge or 0) < GOAL_GAP
        and row.rss_peak - row.rss_before < rss_goal
    )
    row.note = "; ".join(problems)


def mib(n: int) -> str:
    return f"{n / MIB:.0f}"


def secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def print_table(rows: list[Row]) -> None:
    head = ("case", "gap wd s", "gap gauge s", "goal s", "RSS MiB before/peak/after", "growth")
    print(
        f"{head[0]:<22} {head[1]:>8} {head[2]:>11} {head[3]:>6}  {head[4]:<26} {head[5]:>6}  result"
    )
    for r in rows:
        rss = f"{mib(r.rss_before)}/{mib(r.rss_peak)}/{mib(r.rss_after)}"
        growth = mib(r.rss_peak - r.rss_before) if r.rss_before else "-"
        print(
            f"{r.name:<22} {secs(r.gap_wd):>8} {secs(r.gap_gauge):>11} {GOAL_GAP:>6.0f}  "
            f"{rss:<26} {growth:>6}  {'ok' if r.passed else 'FAIL'}"
        )
    print()
    for r in rows:
        print(f"{r.name}: {r.note}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs, shorter watches")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--keep", type=Path, help="keep each case's directory (logs) under DIR")
    args = ap.parse_args()
    chosen = [c for c in cases.CASES if not args.only or c.name in args.only.split(",")]
    if not chosen:
        print("no such case; cases: " + ", ".join(c.name for c in cases.CASES))
        return 2
    root = Path(tempfile.mkdtemp(prefix="alerter-hostile-"))
    rows = []
    started = time.monotonic()
    try:
        for case in chosen:
            t = time.monotonic()
            rows.append(run_case(case, root, args.quick))
            print(f"  {case.name}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            shutil.copytree(root, args.keep, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    print(f"hostile inputs ({mode}), {time.monotonic() - started:.0f} s\n")
    print_table(rows)
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
