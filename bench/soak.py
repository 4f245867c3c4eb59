"""Soak: the real `alerter run` process for MINUTES (default 10) at RATE lines/s (default 20k),
with rename and copytruncate rotation and a loopback webhook that fails 30% of its calls.

Prints lines written vs keys alerted, keys missing, duplicate notifications, and the daemon's RSS
and open descriptors at start, each minute and at end (flat RSS and fds = no leak). Nothing may
be missing.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 20000] [--fail 0.3]

The writer is this process, the daemon another; both share the machine's 2 cores, so the rate is
a target the writer keeps up with if it can (the achieved rate is printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from alerter.harness.crashtest import DaemonProcess, KeyReceiver, RotatingWriter, write_config
from alerter.testing import free_port

PER_KEY = 200  # lines per key: 100 new keys a second at 20k lines/s, each alerted once
ROTATE_EVERY = 30.0  # seconds; rename and copytruncate in turn


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=20_000)
    ap.add_argument("--fail", type=float, default=0.3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="alerter-soak-") as tmp:
        d = Path(tmp)
        receiver = KeyReceiver(fail=args.fail, seed=1)
        port = free_port()
        cfg = write_config(d, receiver.url, port)
        writer = RotatingWriter(d / "app.log", per_key=PER_KEY)
        daemon = DaemonProcess(cfg, port, d / "alerter.log")
        try:
            daemon.wait_ready()
            start_rss, start_fds = daemon.rss_and_fds()
            started = time.monotonic()
            end = started + args.minutes * 60
            next_rotation = started + ROTATE_EVERY
            next_sample = started + 60
            samples: list[tuple[int, int]] = []  # (RSS, fds) every minute
            chunk = max(1, args.rate // 20)  # written every 50 ms
            kinds = ["rename", "copytruncate"]
            while (now := time.monotonic()) < end:
                due = int((now - started) * args.rate) - writer.written
                if due > 0:
                    writer.write(min(due, 10 * chunk))
                if now >= next_rotation:
                    writer.rotate(kinds[writer._n % 2])
                    next_rotation = now + ROTATE_EVERY
                    _prune_rotated(d, keep=3)
                if now >= next_sample:
                    samples.append(daemon.rss_and_fds())
                    next_sample += 60
                time.sleep(0.05)
            wrote_for = time.monotonic() - started
            expected = writer.keys()
            deadline = time.monotonic() + 300
            while not expected <= receiver.keys() and time.monotonic() < deadline:
                time.sleep(0.5)
            caught_up = time.monotonic() - started - wrote_for
            end_rss, end_fds = daemon.rss_and_fds()
        finally:
            code = daemon.stop()
            receiver.close()
        missing = expected - receiver.keys()
        print(
            f"soak: {args.minutes:g} min, target {args.rate} lines/s, webhook failing {args.fail:.0%}"
        )
        print(
            f"  lines written     {writer.written} ({writer.written / wrote_for:,.0f}/s achieved), "
            f"rotations {dict(writer.rotations)}"
        )
        print(
            f"  keys written      {len(expected)}, alerted {len(expected) - len(missing)}, "
            f"missing {len(missing)}, caught up {caught_up:.1f} s after the last line"
        )
        print(
            f"  notifications     {receiver.calls} calls, {receiver.failed} failed on purpose, "
            f"duplicate key notifications {receiver.duplicates()}"
        )
        print(f"  daemon RSS        {mib(start_rss)} at start, {mib(end_rss)} at end")
        print(f"  daemon open fds   {start_fds} at start, {end_fds} at end")
        if samples:
            rss = ", ".join(f"{r / 2**20:.1f}" for r, _ in samples)
            print(f"  RSS each minute   {rss} MiB")
            print(f"  fds each minute   {', '.join(str(f) for _, f in samples)}")
        print(f"  daemon exit code  {code}")
        return 1 if missing or code != 0 else 0


def _prune_rotated(d: Path, keep: int) -> None:
    """Delete all but the newest `keep` rotated files, as logrotate's `rotate N` does."""
    rotated = sorted(d.glob("app.log.*"), key=lambda p: int(p.suffix[1:]))
    for p in rotated[:-keep]:
        p.unlink()


if __name__ == "__main__":
    sys.exit(main())
