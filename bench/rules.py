"""Rules engine throughput and memory: the full pipeline against a bare regex loop.

Generates a 1M-line mixed log (auth + nginx lines) and, in the same run, measures:
  bare          for line in f: rx.search(line)   (the SSHBruteForce regex)
  sshd rule     FileCollector (parser none) -> Engine with one SSHBruteForce rule (a user's)
  sshd+nginx    the same with the sshd and nginx packs (6 log rules)
  all packs     sshd, nginx, kernel, systemd, deadman (12 log rules) and host
  replay        `alerter replay`'s loop over the same lines split into auth.log (syslog parser)
                and access.log (regex parser with the time field), by line time
  fail2ban      fail2ban-regex with its stock sshd filter over the auth part (if installed),
                against the engine pipeline over the same auth part
and the peak RSS of a process holding 200k distinct `by` keys in a 10m window.

The pipeline is the daemon's: the collector's batches (each block's text, split into lines only
if a rule reads one) go to Engine.process and tick as the main loop would, after the garbage
collector is settled and the allocator tuned as the daemon does once it has started
(alerter/runtime/tuning.py). EngineSink counts each batch's lines as the
daemon's events counter does. As with the daemon's default (global.scan_worker) on a host with
two CPUs or more, the engine hands the bulk rules' passes over large batches to the scan helper
process (alerter/runtime/scanworker.py, started before the clock); "CPU" is the cores used by this
process and the helper together while the pipeline ran.

    .venv/bin/python bench/rules.py [--lines N] [--keys N] [--no-fail2ban]

Goals: sshd rule >= 0.5 of bare, all packs >= 0.3, replay of 5 packs over 2 files >= 200k
lines/s (the earlier performance issue's; issue 12's replay goal, >= 1M lines/s with one sshd
rule, is bench/daemon.py's), >= 10x fail2ban, < 150 MB with 200k keys.

This is the engine in-process. The daemon users run (the real `alerter run` process with the
syslog and nginx regex parsers, `alerter replay`, its RSS at 200k keys, line-to-webhook latency)
is measured by bench/daemon.py, also run as `bench/rules.py --daemon [its options]`.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerter.cli.replay import replay
from alerter.cli.replayruns import file_runs as _events
from alerter.collectors.base import NullPositions, NullStats
from alerter.collectors.file import FileCollector, FileConfig
from alerter.collectors.parsers import ParserConfig, make_parser
from alerter.core.events import LogBatch, Sample
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.runtime import tuning
from alerter.runtime.scanworker import ScanWorker

SSHD_RX = (
    r"Failed (?:password|publickey) for (?:invalid user )?(?P<user>\S*) from "
    r"(?P<ip>[0-9A-Fa-f.:]+) port"
)
NGINX_PATTERN = (
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)'
    r'[^"]*" (?P<status>\d{3}) (?P<bytes>\d+)'
)


def auth_line(i: int) -> str:
    ts = f"Nov 28 07:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}"
    if i % 10 == 0:
        ip = f"203.0.{(i // 10) % 64}.{(i // 20_000) % 250}"
        return (
            f"{ts} web1 sshd[{1000 + i % 5000}]: Failed password for root from {ip} port "
            f"{40000 + i % 20000} ssh2\n"
        )
    if i % 10 == 1:
        return (
            f"{ts} web1 sshd[{1000 + i % 5000}]: Invalid user admin{i % 7} from "
            f"198.51.100.{i % 250} port {40000 + i % 20000}\n"
        )
    if i % 10 == 2:
        return f"{ts} web1 CRON[{i % 9000}]: pam_unix(cron:session): session opened for user root\n"
    return (
        f"{ts} web1 sshd[{1000 + i % 5000}]: Accepted publickey for deploy from "
        f"10.0.0.{i % 250} port {40000 + i % 20000} ssh2: ED25519 SHA256:abc\n"
    )


def nginx_line(i: int) -> str:
    status = 502 if i % 50 == 0 else 404 if i % 11 == 0 else 200
    return (
        f"10.1.{i % 256}.{(i // 256) % 256} - - [28/Nov/2026:07:{(i // 60000) % 60:02d}:"
        f'{(i // 1000) % 60:02d} +0000] "GET /p/{i % 5000} HTTP/1.1" {status} {i % 9999} '
        f'"-" "Mozilla/5.0 (X11; Linux x86_64)"\n'
    )


def generate(d: Path, n: int) -> tuple[Path, Path, Path]:
    mixed, auth, access = d / "mixed.log", d / "auth.log", d / "access.log"
    with mixed.open("w") as fm, auth.open("w") as fa, access.open("w") as fn:
        for start in range(0, n, 10_000):
            a = [auth_line(i) for i in range(start // 2, (start + 10_000) // 2)]
            w = [nginx_line(i) for i in range(start // 2, (start + 10_000) // 2)]
            fm.write("".join(x for pair in zip(a, w, strict=True) for x in pair))
            fa.write("".join(a))
            fn.write("".join(w))
    return mixed, auth, access


def packs(*names: str) -> list[tuple[str, str]]:
    return [
        (
            f"builtin:{n}",
            resources.files("alerter.rules").joinpath("packs", f"{n}.yaml").read_text(),
        )
        for n in names
    ]


def one_rule() -> list[tuple[str, str]]:
    """One SSHBruteForce rule as a user writes it (bench/daemon.py's), for any source. (A copy
    of the pack's SSHBruteForce would run as the pack's rule does, with its connection state:
    a different rule.)"""
    from daemon_logs import one_rule as user_rule  # (bench/: the script's directory)

    return [("rules.yaml", user_rule(None))]


# 10 log-derived metrics (DESIGN "Log-derived metrics") over the same lines, loaded beside
# all packs: their figures against all packs alone show what the metrics cost on the batch path.
# As mtail and grok_exporter programs are written: one regex per line shape (the access log's
# six metrics share one, searched once a batch), the auth log's shapes one each
LOG_METRICS = r"""
groups:
  - name: bench-metrics
    metrics:
      - {name: nginx_http_requests_total, type: counter, by: [status], logs: {match: &access
         '\] "(?P<method>[A-Z]+) [^"]*" (?P<status>\d{3}) (?P<bytes>\d+) '}}
      - {name: nginx_requests_by_method_total, type: counter, by: [method], logs: {match: *access}}
      - {name: nginx_requests_by_method_status_total, type: counter, by: [method, status],
         logs: {match: *access}}
      - {name: nginx_response_bytes_total, type: counter, field: bytes, logs: {match: *access}}
      - {name: nginx_response_bytes, type: histogram, field: bytes,
         buckets: [100, 1000, 5000], logs: {match: *access}}
      - {name: nginx_last_response_bytes, type: gauge, field: bytes, logs: {match: *access}}
      - {name: sshd_failed_password_total, type: counter, by: [user],
         logs: {match: 'Failed password for (?P<user>\S+) from'}}
      - {name: sshd_invalid_user_total, type: counter, by: [user], max_series: 100,
         logs: {match: 'Invalid user (?P<user>\S+) from'}}
      - {name: sshd_accepted_total, type: counter, by: [user],
         logs: {match: 'Accepted publickey for (?P<user>\S+) '}}
      - {name: cron_sessions_total, type: counter,
         logs: {match: 'CRON\[\d+\]: pam_unix'}}
"""


def bare(path: Path) -> float:
    rx = re.compile(SSHD_RX)
    t = time.perf_counter()
    with path.open() as f:
        for line in f:
            rx.search(line)
    return time.perf_counter() - t


class EngineSink:
    """The daemon's path without the bus: each collector batch goes to engine.process."""

    def __init__(self, engine: Engine, total: int) -> None:
        self.engine = engine
        self.total = total
        self.count = 0
        self.transitions = 0
        self.done = threading.Event()

    def put_lines(self, batch: LogBatch, ack: Callable[[], None] | None = None) -> bool:
        now = time.time()
        self.transitions += len(self.engine.process(batch, now))
        self.transitions += len(self.engine.tick(now))
        self.count += len(batch)
        if ack is not None:
            ack()
        if self.count >= self.total:
            self.done.set()
        return True

    def put_samples(self, samples: Sequence[Sample]) -> bool:
        self.engine.process_samples(samples, time.time())
        return True


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds of this process and of the running scan helper `pid`."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    helper = 0.0
    if pid is not None:  # utime and stime, in clock ticks (proc(5))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        helper = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own.ru_utime + own.ru_stime + helper


def pipeline(path: Path, rule_files: list[tuple[str, str]], n: int) -> tuple[float, int, float]:
    """(seconds, transitions, CPU seconds of this process and the scan helper)."""
    # the daemon's default (global.scan_worker): a helper process on a host with 2+ CPUs
    worker = ScanWorker() if (os.cpu_count() or 1) >= 2 else None
    engine = Engine(load_rule_files(rule_files, 15.0), {"host": "bench"}, offload=worker)
    tuning.tune_process()  # as the daemon does before its collectors start
    tuning.settle()  # as the daemon does once it has started
    sink = EngineSink(engine, n)
    c = FileCollector(
        FileConfig(
            name="mixed", paths=(str(path),), start_at="beginning", parser=ParserConfig("none")
        ),
        NullPositions(),
        NullStats(),
    )
    if worker is not None:  # started (and ready) before the clock, as the daemon's is by its
        # first large batch
        worker.start()
    pid = worker.pid if worker is not None else None
    cpu = cpu_seconds(pid)
    t = time.perf_counter()
    c.start(sink)
    sink.done.wait(600)
    elapsed = time.perf_counter() - t
    cpu = cpu_seconds(pid) - cpu
    c.stop()
    if worker is not None:
        worker.close()
    assert sink.count == n, f"pipeline delivered {sink.count} of {n} lines"
    return elapsed, sink.transitions, cpu


def replay_run(auth: Path, access: Path) -> float:
    engine = Engine(
        load_rule_files(packs("sshd", "nginx", "kernel", "systemd", "deadman"), 15.0), {}
    )
    streams = [
        _events("auth", str(auth), make_parser(ParserConfig("syslog"))),
        _events(
            "nginx",
            str(access),
            make_parser(ParserConfig("regex", NGINX_PATTERN, "time", "%d/%b/%Y:%H:%M:%S %z")),
        ),
    ]
    t = time.perf_counter()
    replay(engine, streams, None, None, io.StringIO())
    return time.perf_counter() - t


def fail2ban(auth: Path) -> float | None:
    exe = shutil.which("fail2ban-regex")
    filt = Path("/etc/fail2ban/filter.d/sshd.conf")
    if exe is None or not filt.exists():
        return None
    t = time.perf_counter()
    subprocess.run(
        [exe, str(auth), str(filt)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=1800,
    )
    return time.perf_counter() - t


MEMORY_CHILD = """
import sys
sys.path.insert(0, {root!r})
from alerter.rules.engine import Engine
from alerter.core.events import LogBatch, LogEvent
from alerter.rules.loader import load_rule_files


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


base = status("VmRSS")
e = Engine(load_rule_files([("mem", {rules!r})], 15.0), {{"host": "bench"}})
n = {keys}
batch = []
for i in range(n):
    ip = f"{{10 + i // 65536}}.{{(i // 256) % 256}}.{{i % 256}}.{{i % 7}}"
    now = 1000.0 + i / 1000.0  # all within 10 minutes: every key stays live
    batch.append(LogEvent(now, "auth", f"Nov 28 07:00:00 web1 sshd[{{i}}]: Failed password for "
                          f"root from {{ip}} port 22 ssh2"))
    if len(batch) == 1000:
        e.process(LogBatch.of_events("auth", now, batch), now)
        batch = []
e.tick(1250.0)
keys = sum(len(r.keys) for r in e._log_rules)
print(keys, base, status("VmHWM"))
"""

# the sshd pack's brute-force rule with a cap above the number of keys
MEMORY_RULES = """
groups:
  - name: mem
    rules:
      - alert: SSHBruteForce
        logs:
          match: 'Failed password for (?:invalid user )?(?P<user>\\S*) from (?P<ip>[0-9.]+) port'
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 5"
        max_keys: 1000000
        annotations: {summary: "{{ labels.ip }} failed {{ value }} SSH logins in 10m"}
"""


def memory(keys: int) -> tuple[int, float, float]:
    """(live keys, RSS before, peak RSS) in MB of a fresh process holding `keys` keys."""
    root = str(Path(__file__).resolve().parent.parent)
    code = MEMORY_CHILD.format(root=root, keys=keys, rules=MEMORY_RULES)
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), int(out[1]) / 1024, int(out[2]) / 1024


def log_metrics_cost(n: int, rounds: int = 3) -> None:
    """All packs with and without the 10 log-derived metrics, alternated, best of `rounds`."""
    all_packs = packs("sshd", "nginx", "kernel", "systemd", "deadman", "host")
    with tempfile.TemporaryDirectory() as tmp:
        mixed = generate(Path(tmp), n)[0]
        bare(mixed)  # warm the page cache
        alone, with_metrics = [], []
        for _ in range(rounds):
            alone.append(pipeline(mixed, all_packs, n))
            with_metrics.append(pipeline(mixed, [*all_packs, ("m", LOG_METRICS)], n))
    a, m = min(x[0] for x in alone), min(x[0] for x in with_metrics)
    ca, cm = min(x[2] for x in alone), min(x[2] for x in with_metrics)  # CPU s, with the helper
    print(f"all packs:              {n / a:>12,.0f} lines/s  CPU {ca:.2f} s")
    print(
        f"all packs + 10 metrics: {n / m:>12,.0f} lines/s  CPU {cm:.2f} s  "
        f"({(m / a - 1) * 100:+.1f}% time, {(cm / ca - 1) * 100:+.1f}% CPU)"
    )


def main() -> None:
    if "--daemon" in sys.argv[1:]:  # the real daemon process: bench/daemon.py
        import runpy

        daemon = str(Path(__file__).with_name("daemon.py"))
        sys.argv = [daemon, *(a for a in sys.argv[1:] if a != "--daemon")]
        runpy.run_path(daemon, run_name="__main__")
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--no-fail2ban", action="store_true")
    ap.add_argument(
        "--log-metrics", action="store_true", help="only all packs with and without 10 metrics"
    )
    args = ap.parse_args()
    n = args.lines
    if args.log_metrics:
        log_metrics_cost(n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        mixed, auth, access = generate(Path(tmp), n)
        size = os.path.getsize(mixed)
        bare(mixed)  # warm the page cache
        b = min(bare(mixed) for _ in range(2))
        runs = {}
        for label, files in (
            ("sshd rule", one_rule()),
            ("sshd+nginx packs", packs("sshd", "nginx")),
            ("all packs", packs("sshd", "nginx", "kernel", "systemd", "deadman", "host")),
            (
                "all packs + 10 metrics",
                [
                    *packs("sshd", "nginx", "kernel", "systemd", "deadman", "host"),
                    ("bench-metrics", LOG_METRICS),
                ],
            ),
        ):
            runs[label] = min((pipeline(mixed, files, n) for _ in range(2)), key=lambda r: r[0])
        r = replay_run(auth, access)
        n_auth = n // 2
        f2b = None if args.no_fail2ban else fail2ban(auth)
        auth_pipe = min(pipeline(auth, packs("sshd"), n_auth)[0] for _ in range(2))
    keys, base_mb, peak_mb = memory(args.keys)

    print(f"mixed log: {n:,} lines (auth + nginx), {size / 1e6:.0f} MB")
    print(f"bare regex loop:          {n / b:>12,.0f} lines/s")
    for label, (el, trans, cpu) in runs.items():
        goal = "0.5" if label == "sshd rule" else "0.3" if label == "all packs" else "-"
        print(
            f"{label + ':':<26}{n / el:>12,.0f} lines/s  ratio {b / el:.2f} (goal >= {goal})"
            f"  transitions {trans}  CPU {cpu / el:.2f} cores"
        )
    with_metrics, alone = runs["all packs + 10 metrics"][0], runs["all packs"][0]
    print(
        f"10 log-derived metrics:   all packs {n / alone:,.0f} -> {n / with_metrics:,.0f} lines/s "
        f"({(with_metrics / alone - 1) * 100:+.1f}% time; goal within 10%)"
    )
    print(f"replay (5 packs, 2 files):{n / r:>12,.0f} lines/s  (goal >= 200,000 for 5 packs)")
    print(f"auth part, sshd pack:     {n_auth / auth_pipe:>12,.0f} lines/s")
    if f2b is not None:
        print(
            f"fail2ban-regex sshd:      {n_auth / f2b:>12,.0f} lines/s  "
            f"alerter is {f2b / auth_pipe:.0f}x faster (goal >= 10x)"
        )
    else:
        print("fail2ban-regex:           not installed or skipped")
    print(
        f"memory: {keys:,} live keys in a 10m window: peak RSS {peak_mb:.0f} MB "
        f"(before the engine {base_mb:.0f} MB; goal < 150 MB)"
    )
    print(
        f"ru_maxrss of this run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
