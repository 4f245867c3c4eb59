"""The daemon users run, measured: the real `alerter run` process on configs a user would write.

Each case starts `python -m alerter run -c CFG` in a fresh temp dir (its own state), waits until it
is ready, moves a generated log into the path its file collector follows (`start_at: beginning`)
and polls `/metrics` until `alerter_events_total` of its log collectors reaches the log's line
count. In the same run, before the daemon starts, the bare per-line loop
`for raw in f: rx.search(raw.decode())` (the sshd pack's SSHBruteForce regex) is timed over the
same files; the ratio is bare seconds / daemon seconds. CPU is the daemon process's user+sys
seconds (/proc/PID/stat) over the same interval, and its share of wall time; the scan helper
process (`global.scan_worker`, a child of the daemon) is added apart.

Cases (logs from bench/daemon_logs.py: real OpenSSH and nginx line formats, a 2000-address
password-guessing storm in auth.log):
  sshd, syslog      one SSHBruteForce rule (the sshd pack's) on auth.log, `parser: {type: syslog}`
  sshd, none        the same with `parser: {type: none}`
  all packs         every shipped pack (`builtin:...`) on half auth.log (syslog parser), half
                    access.log (the nginx regex parser with its time field), plus the host collector
  replay            `alerter replay -c CFG --log auth=auth.log` with the sshd, syslog config, and
                    with the whole sshd pack instead of its one rule; the all-packs config over
                    both logs: lines / (wall - start-up), where start-up is the same command over
                    an empty log
  RSS               a keyed count rule `by: [addr]` (max_keys 1M) over KEYS distinct addresses;
                    the daemon's VmHWM (/proc/PID/status) once every line is counted and the rule
                    has been evaluated; then a reload (SIGHUP, the config unchanged) until it has
                    succeeded, against the time the daemon took to read and count the lines;
                    then the daemon stopped and started again on its state: seconds to ready and
                    its VmHWM after two evaluations
  latency           a line with a new key appended to a followed file until a loopback webhook has
                    its firing notification (group_wait 0s, one group per alert); SAMPLES lines a
                    run, each a random 0-100 ms after the previous notification arrived

Every figure is printed as min-max over --runs runs (default 3).

    .venv/bin/python bench/daemon.py [--runs 3] [--lines 1000000] [--keys 200000] [--samples 200]
    .venv/bin/python bench/daemon.py --quick        # smoke run, < 1 min
    .venv/bin/python bench/daemon.py --py-spy DIR   # also profile each daemon (py-spy, raw format)

Goals (issue 12, this 2-CPU machine): sshd, syslog >= 0.5 of bare; all packs >= 0.3; replay
>= 1M lines/s on auth.log; peak RSS < 150 MB at 200k live keys; line -> webhook p99 < 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

# the checkout's packages first; this directory (daemon_logs, daemon_tools) after them
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

import daemon_logs as logs
from daemon_tools import (
    Profiler,
    SinkReceiver,
    children_cpu,
    helpers_cpu,
    proc_cpu,
    reload_seconds,
    samples,
    status_kb,
    wait_events,
)

from alerter.harness.crashtest import LINE, DaemonProcess, KeyReceiver, rules_text
from alerter.testing import free_port


def bare(paths: Sequence[Path]) -> float:
    """Seconds of the bare per-line loop over `paths` (best of two, after a warm-up read)."""
    import re

    rx = re.compile(logs.SSHD_RX)

    def once() -> float:
        t = time.perf_counter()
        for p in paths:
            with p.open("rb") as f:
                for raw in f:
                    rx.search(raw.decode())
        return time.perf_counter() - t

    once()
    return min(once(), once())


@dataclass(frozen=True)
class Case:
    label: str
    logs: tuple[tuple[str, str, float], ...]  # (collector, parser, share of the lines)
    rule_files: tuple[str, ...] = ()
    rules: str | None = None
    host: bool = False
    goal: str = ""


CASES = (
    Case(
        "1 sshd rule, syslog parser",
        (("auth", "syslog", 1.0),),
        rules=logs.ONE_RULE,
        goal="(goal >= 0.5)",
    ),
    Case("1 sshd rule, parser none", (("auth", "none", 1.0),), rules=logs.ONE_RULE),
    Case(
        "all packs, auth+access",
        (("auth", "syslog", 0.5), ("nginx", "nginx", 0.5)),
        rule_files=tuple(logs.all_packs()),
        host=True,
        goal="(goal >= 0.3)",
    ),
    Case("2000 rules, one an address", (("auth", "syslog", 1.0),), rules=logs.many_rules(2000)),
)
# `alerter replay` over auth.log with the one rule and with the whole sshd pack (its second rule
# counts distinct user names per address), and over both logs with every pack
REPLAYS = (
    CASES[0],
    Case(
        "sshd pack, syslog parser",
        (("auth", "syslog", 1.0),),
        rule_files=("builtin:sshd",),
    ),
    CASES[2],
)


def prepare(
    case: Case,
    d: Path,
    n: int,
    hook_url: str,
    port: int,
) -> tuple[Path, list[tuple[Path, Path]]]:
    """Config and logs of `case` in `d`: (config, [(generated log, path the collector follows)])."""
    incoming = d / "incoming"
    incoming.mkdir(parents=True)
    end = time.time()
    entries, moves = [], []
    for name, parser, share in case.logs:
        final = d / ("access.log" if parser == "nginx" else "auth.log")
        made = incoming / final.name
        write = logs.write_access if parser == "nginx" else logs.write_auth
        write(made, int(n * share), end)
        entries.append(logs.collector(name, final, parser))
        moves.append((made, final))
    if case.host:
        entries.insert(0, logs.HOST)
    cfg = logs.write_config(d, entries, list(case.rule_files), case.rules, hook_url, port)
    return cfg, moves


@dataclass(frozen=True)
class Throughput:
    lines: int
    seconds: float
    bare: float
    cpu: float
    helper: float
    firing: int


def throughput(case: Case, d: Path, n: int, profile: Path | None) -> Throughput:
    receiver = SinkReceiver()
    port = free_port()
    cfg, moves = prepare(case, d, n, receiver.url, port)
    lines = sum(int(n * share) for _, _, share in case.logs)
    b = bare([m for m, _ in moves])
    daemon = DaemonProcess(cfg, port, d / "alerter.log")
    try:
        daemon.wait_ready()
        pid = daemon.proc.pid
        spy = Profiler(profile, pid)
        cpu, helper = proc_cpu(pid), helpers_cpu(pid)
        t = time.perf_counter()
        for made, final in moves:
            os.rename(made, final)
        wait_events(daemon, [c for c, _, _ in case.logs], lines, timeout=1800)
        elapsed = time.perf_counter() - t
        cpu, helper = proc_cpu(pid) - cpu, helpers_cpu(pid) - helper
        spy.stop()
    finally:
        daemon.stop()
        receiver.close()
    return Throughput(lines, elapsed, b, cpu, helper, fired(d / "alerter.log"))


def fired(log: Path) -> int:
    """Alerts that fired, by the daemon's `alert_transition` log lines and, past their budget,
    its `alert_transitions_not_logged` lines (alerter/runtime/transitionlog.py)."""
    n = 0
    with log.open() as f:
        for line in f:
            if '"alert_transition"' in line and json.loads(line).get("state") == "firing":
                n += 1
            elif '"alert_transitions_not_logged"' in line:
                n += int(json.loads(line).get("firing", 0))
    return n


def replay(case: Case, d: Path, n: int) -> tuple[float, float, float]:
    """(lines/s, lines per CPU second, start-up seconds) of `alerter replay` over `case`'s
    logs, both rates net of the start-up (the same command over an empty log)."""
    cfg, moves = prepare(case, d, n, "http://127.0.0.1:9/unused", free_port())
    empty = d / "empty.log"
    empty.touch()

    def run(paths: Sequence[Path]) -> tuple[float, float]:
        argv = [sys.executable, "-m", "alerter", "replay", "-c", str(cfg)]
        for (name, _, _), p in zip(case.logs, paths, strict=True):
            argv += ["--log", f"{name}={p}"]
        cpu = children_cpu()
        t = time.perf_counter()
        # (its summary on stderr: kept for the error of a failed run, not printed)
        subprocess.run(argv, check=True, capture_output=True, timeout=1800)
        return time.perf_counter() - t, children_cpu() - cpu

    startup, startup_cpu = run([empty] * len(moves))
    wall, cpu = run([m for m, _ in moves])
    lines = sum(int(n * share) for _, _, share in case.logs)
    return lines / max(wall - startup, 1e-9), lines / max(cpu - startup_cpu, 1e-9), startup


@dataclass(frozen=True)
class Memory:
    """The RSS case, in MB and seconds."""

    ready: float  # the daemon's RSS at ready
    peak: float  # its VmHWM once every key is counted and evaluated
    end: float  # its RSS then
    helper: float  # the scan helper's VmHWM
    evicted: int  # keys evicted
    counting: float  # seconds to read and count the keys' lines
    reload: float  # seconds a reload then took (SIGHUP, the config unchanged)
    peak_reload: float  # the daemon's VmHWM after it
    restart: float  # seconds from starting the daemon again on that state to ready
    peak_restart: float  # that daemon's VmHWM after two evaluations


def rss(d: Path, keys: int) -> Memory:
    """Memory with `keys` live keys, and a reload's cost."""
    d.mkdir(parents=True)
    receiver = SinkReceiver()
    port = free_port()
    made, final = d / "made.log", d / "auth.log"
    logs.write_keys(made, keys, time.time())
    cfg = logs.write_config(
        d,
        [logs.collector("auth", final, "syslog")],
        [],
        logs.KEYS_RULE,
        receiver.url,
        port,
        evaluation_interval="1s",
    )
    daemon = DaemonProcess(cfg, port, d / "alerter.log")
    try:
        daemon.wait_ready()
        pid = daemon.proc.pid
        start = status_kb(pid, "VmRSS")
        os.rename(made, final)
        begin = time.monotonic()
        wait_events(daemon, ["auth"], keys, timeout=600)
        counting = time.monotonic() - begin
        time.sleep(2.5)  # two evaluations (evaluation_interval 1s) over every key
        peak, now = status_kb(pid, "VmHWM"), status_kb(pid, "VmRSS")
        helper = sum(status_kb(c.pid, "VmHWM") for c in psutil.Process(pid).children(True))
        evicted = int(sum(v for _, v in samples(daemon.url, "alerter_rule_keys_evicted_total")))
        reload = reload_seconds(daemon, timeout=600)  # the config unchanged: every key kept
        after = status_kb(pid, "VmHWM")
        daemon.stop()
        begin = time.monotonic()  # a restart on the state the stop committed
        daemon = DaemonProcess(cfg, port, d / "restarted.log")
        daemon.wait_ready()
        restart = time.monotonic() - begin
        time.sleep(2.5)  # two evaluations over the restored keys
        restarted = status_kb(daemon.proc.pid, "VmHWM")
    finally:
        daemon.stop()
        receiver.close()
    mb = 1 / 1024
    return Memory(
        start * mb,
        peak * mb,
        now * mb,
        helper * mb,
        evicted,
        counting,
        reload,
        after * mb,
        restart,
        restarted * mb,
    )


LATENCY_CONFIG = """
global: {{state_dir: "{state}", evaluation_interval: 1s}}
server: {{listen: "127.0.0.1:{port}"}}
collectors:
  - {{name: app, type: file, paths: ["{log}"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{url}"}}
route: {{receiver: hook, group_by: ['...'], group_wait: 0s, group_interval: 1m}}
"""


def latency(d: Path, n: int, seed: int) -> tuple[list[float], int]:
    """(milliseconds from appending a line to its firing notification, missed) for n lines."""
    d.mkdir(parents=True)
    receiver = KeyReceiver()
    port = free_port()
    log = d / "app.log"
    log.touch()
    (d / "rules.yaml").write_text(rules_text("10m"))
    cfg = d / "config.yaml"
    cfg.write_text(LATENCY_CONFIG.format(state=d / "state", port=port, log=log, url=receiver.url))
    daemon = DaemonProcess(cfg, port, d / "alerter.log")
    rnd = random.Random(seed)
    out: list[float] = []
    missed = 0
    try:
        daemon.wait_ready()
        with log.open("a") as f:
            for i in range(-1, n):  # the first line (key 0) warms up and is not counted
                key = str(i + 1)
                time.sleep(rnd.uniform(0, 0.1))  # de-phase from the collector's 100 ms poll
                t = time.monotonic()
                f.write(LINE.format(key=key))
                f.flush()
                got = receiver.wait_first(key, 10.0)
                if got is None:
                    missed += 1
                elif i >= 0:
                    out.append((got - t) * 1000)
    finally:
        daemon.stop()
        receiver.close()
    return out, missed


# --- report ----------------------------------------------------------------------------------


def span(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    lo, hi = min(values), max(values)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}-{fmt(hi)}"


def rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def f2(x: float) -> str:
    return f"{x:.2f}"


def f0(x: float) -> str:
    return f"{x:.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of each case's log")
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--samples", type=int, default=200, help="latency lines a run")
    ap.add_argument("--quick", action="store_true", help="1 run, 100k lines, 20k keys, 20 samples")
    ap.add_argument("--py-spy", type=Path, metavar="DIR", help="profile each daemon run into DIR")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.lines, args.keys, args.samples = 1, 100_000, 20_000, 20
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    # the daemons and replays run this checkout, whatever the venv has installed
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)

    tput: dict[str, list[Throughput]] = {c.label: [] for c in CASES}
    rep: dict[str, list[tuple[float, float, float]]] = {c.label: [] for c in REPLAYS}
    mem: list[Memory] = []
    lat: list[tuple[list[float], int]] = []
    with tempfile.TemporaryDirectory(prefix="alerter-daemon-bench-") as tmp:
        for run in range(args.runs):
            for i, case in enumerate(CASES):
                prof = (
                    None if args.py_spy is None else args.py_spy / f"case{i + 1}-run{run + 1}.txt"
                )
                tput[case.label].append(
                    throughput(case, Path(tmp, f"r{run}c{i}"), args.lines, prof)
                )
            for i, case in enumerate(REPLAYS):
                rep[case.label].append(replay(case, Path(tmp, f"r{run}p{i}"), args.lines))
            mem.append(rss(Path(tmp, f"r{run}m"), args.keys))
            lat.append(latency(Path(tmp, f"r{run}l"), args.samples, seed=run))

    print(
        f"daemon bench: {args.runs} run(s), {args.lines:,} lines a case, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; ranges are min-max over the runs"
    )
    print(
        "alerter run (lines counted by alerter_events_total) vs the bare loop "
        "`for raw in f: rx.search(raw.decode())` over the same files in the same run:"
    )
    for label, rs in tput.items():
        goal = next(c.goal for c in CASES if c.label == label)
        print(
            f"  {label:<28} {span([r.lines / r.seconds for r in rs], rate)} lines/s  "
            f"bare {span([r.lines / r.bare for r in rs], rate)}  "
            f"ratio {span([r.bare / r.seconds for r in rs], f2)} {goal}"
        )
        print(
            f"  {'':<28} CPU {span([r.cpu for r in rs], f2)} s = "
            f"{span([r.cpu / r.seconds for r in rs], f2)} of wall, scan helper "
            f"{span([r.helper for r in rs], f2)} s; alerts fired "
            f"{span([r.firing for r in rs], f0)}"
        )
    print("alerter replay, lines / (wall or CPU - that of the same command over an empty log):")
    for label, rr in rep.items():
        goal = "(goal >= 1M)" if label == CASES[0].label else ""
        print(
            f"  {label:<28} {span([r[0] for r in rr], rate)} lines/s {goal}  "
            f"{span([r[1] for r in rr], rate)} lines per CPU second  start-up "
            f"{span([r[2] for r in rr], f2)} s"
        )
    print(
        f"peak RSS at {args.keys:,} live keys: VmHWM {span([m.peak for m in mem], f0)} MB "
        f"(goal < 150 MB); VmRSS at ready {span([m.ready for m in mem], f0)} MB, at the end "
        f"{span([m.end for m in mem], f0)} MB; scan helper {span([m.helper for m in mem], f0)} "
        f"MB; keys evicted {span([m.evicted for m in mem], f0)}"
    )
    print(
        f"reload (SIGHUP, config unchanged) at {args.keys:,} live keys: "
        f"{span([m.reload for m in mem], f2)} s = "
        f"{span([m.reload / m.counting for m in mem], f2)} of the time the daemon took to read "
        f"and count their lines ({span([m.counting for m in mem], f2)} s); VmHWM after it "
        f"{span([m.peak_reload for m in mem], f0)} MB"
    )
    print(
        f"restart on that state: ready in {span([m.restart for m in mem], f2)} s = "
        f"{span([m.restart / m.counting for m in mem], f2)} of the counting time; VmHWM "
        f"{span([m.peak_restart for m in mem], f0)} MB (goal < 150 MB)"
    )
    q = [statistics.quantiles(ms, n=100, method="inclusive") for ms, _ in lat]
    print(
        f"line -> webhook latency ({args.samples} lines a run): p50 "
        f"{span([x[49] for x in q], f0)} ms, p99 {span([x[98] for x in q], f0)} ms "
        f"(goal < 300 ms), max {span([max(ms) for ms, _ in lat], f0)} ms, missed "
        f"{span([m for _, m in lat], f0)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
