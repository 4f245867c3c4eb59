"""End-to-end alert latency: a line appended to a watched file until a webhook receiver on
loopback has the firing notification, through the whole daemon (`alerter run` as a subprocess:
file collector -> rules engine -> dispatcher with group_wait 0s -> outbox -> webhook).

Each of N alerts is a new `by` key of one count rule (threshold >= 1), so each line fires one
new alert and one new group. Lines are appended one at a time, a random 0-100 ms after the previous
notification arrived (so they do not phase-lock with the file collector's 100 ms poll). Prints p50 / p90 / p99 / max. Goal (issue 5): p99 < 300 ms.

    .venv/bin/python bench/latency.py [--alerts 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from alerter.testing import free_port

REPO = Path(__file__).resolve().parent.parent


class Arrivals:
    """Firing notifications by alert key, with their arrival time (time.monotonic)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.cond = threading.Condition()

    def add(self, body: dict[str, Any]) -> None:
        now = time.monotonic()
        with self.cond:
            for a in body.get("alerts", []):
                if a.get("status") == "firing":
                    self.times.setdefault(a["labels"].get("key", ""), now)
            self.cond.notify_all()

    def wait(self, key: str, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: key in self.times, timeout)
            return self.times.get(key)


def start_receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            arrivals.add(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(d: Path, hook_url: str, api_port: int) -> Path:
    (d / "rules.yaml").write_text("""
groups:
  - name: bench
    rules:
      - alert: BenchLine
        logs: {source: bench, match: 'bench alert (?P<key>\\S+)'}
        aggregate: count
        over: 10m
        by: [key]
        threshold: ">= 1"
        labels: {severity: info}
        annotations: {summary: "bench line {{ labels.key }}"}
""")
    cfg = d / "config.yaml"
    cfg.write_text(f"""
global:
  state_dir: {d / "state"}
  evaluation_interval: 1s
server:
  listen: 127.0.0.1:{api_port}
collectors:
  - {{name: bench, type: file, paths: ["{d / "bench.log"}"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{hook_url}"}}
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1m
""")
    return cfg


def alerter_exe() -> str:
    venv = REPO / ".venv" / "bin" / "alerter"
    return str(venv) if venv.exists() else (shutil.which("alerter") or "alerter")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=10.0, help="per alert, seconds")
    args = ap.parse_args()

    arrivals = Arrivals()
    receiver = start_receiver(arrivals)
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    tmp = Path(tempfile.mkdtemp(prefix="alerter-latency-"))
    api_port = free_port()
    cfg = write_config(tmp, hook_url, api_port)
    log_path = tmp / "bench.log"
    log_path.touch()
    daemon_log = (tmp / "daemon.log").open("w")
    proc = subprocess.Popen(
        [alerter_exe(), "run", "-c", str(cfg), "--log-level", "warning", "--log-format", "json"],
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    latencies: list[float] = []
    missed = 0
    try:
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                print(
                    "alerter did not become ready; log:",
                    (tmp / "daemon.log").read_text(),
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.05)
        # one warm-up alert (first request, first SQLite writes), not counted
        with log_path.open("a") as f:
            rnd = random.Random(1)
            for i in range(-1, args.alerts):
                key = f"k{i}"
                time.sleep(rnd.uniform(0, 0.1))  # de-phase from the collector's 100 ms poll
                t0 = time.monotonic()
                f.write(f"bench alert {key}\n")
                f.flush()
                got = arrivals.wait(key, args.timeout)
                if got is None:
                    missed += 1
                elif i >= 0:
                    latencies.append((got - t0) * 1000)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        daemon_log.close()
        receiver.shutdown()
        receiver.server_close()
        shutil.rmtree(tmp, ignore_errors=True)

    if not latencies:
        print(f"no notification arrived ({missed} missed)")
        return 1
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"alerts: {len(latencies)} (missed {missed}), line appended -> webhook has firing notification"
    )
    print(
        f"p50 {q[49]:.1f} ms   p90 {q[89]:.1f} ms   p99 {q[98]:.1f} ms   max {max(latencies):.1f} ms"
        f"   (goal p99 < 300 ms: {'met' if q[98] < 300 else 'NOT met'})"
    )
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
