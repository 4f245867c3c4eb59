"""What the cases of bench/hostile.py share: the context each runs in (`Ctx`: the daemon under
test, its webhook and extra servers, the size to use), the watchdog goal, and hostile inputs
more than one case applies."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alerter.harness.hostile import Harness, metric, wait_for
from alerter.harness.servers import RawServer

GOAL_GAP = 15.0  # packaging/alerter.service: WatchdogSec=30s, pinged every 15 s

NESTED = "((((((.*)*)*)*)*)*)*X"  # the API filter and silence
LAUGHS = (  # tests/alerter/test_yaml_bomb.py: the 559-byte file
    '# billion laughs: 9 levels of 9 aliases each; 9^9 = 387,420,489 "lol" strings once expanded\n'
    "global: {state_dir: state}\n"
    "collectors: [{name: host, type: host, interval: 15s}]\n"
    "notifiers: [{name: console, type: console}]\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
)
EVIL_RULES = """
groups:
  - name: evil
    rules:
      - alert: EvilRegex
        logs: {source: syslog, match: '(a+)+$'}
        aggregate: count
        over: 1m
        threshold: ">= 1"
"""


@dataclass
class Ctx:
    h: Harness
    hook: RawServer
    extra: list[RawServer]
    quick: bool
    closers: list[Callable[[], None]] = field(default_factory=list)

    def size(self, quick: float, full: float) -> float:
        return quick if self.quick else full

    def close(self) -> None:
        for c in self.closers:
            with contextlib.suppress(Exception):
                c()

    def lines(self, messages: list[str], tag: str = "app[4242]") -> int:
        """Append syslog lines with these messages (one stamp for all); returns bytes written."""
        prefix = f"{time.strftime('%b %e %H:%M:%S')} hostile {tag}: "
        text = "".join(f"{prefix}{m}\n" for m in messages).encode()
        self.h.syslog.write(text, len(messages))
        return len(text)

    def firing(self) -> int:
        return int(self.h.api("GET", "/api/v1/status").json()["data"]["alerts"]["firing"])

    def seed_alerts(self, n: int, prefix: str = "seed") -> int:
        """`n` RequestFailed alerts firing; returns how many fire."""
        self.lines([f"request failed key={prefix}-{i}" for i in range(n)])
        return wait_for(lambda: (f := self.firing()) >= n and f, 60) or 0

    def check(self, cfg: Path) -> tuple[int, float, str]:
        """`alerter check -c cfg`: exit status, seconds, first line of its output."""
        t = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "alerter", "check", "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        first = (out.stdout + out.stderr).strip().splitlines()
        return out.returncode, time.monotonic() - t, first[0] if first else ""

    def outcomes(self) -> str:
        text = self.h.metrics()
        got = {
            o: int(metric(text, "alerter_notifications_total", notifier="hook", outcome=o))
            for o in ("success", "retry", "failed", "error", "dropped")
        }
        queue = int(metric(text, "alerter_notification_queue_length"))
        shown = ", ".join(f"{k} {v}" for k, v in got.items() if v) or "none"
        return f"notifications: {shown}; queue {queue}"


def silence(matchers: list[dict[str, object]]) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    return {
        "matchers": matchers,
        "startsAt": now.isoformat(),
        "endsAt": (now + dt.timedelta(hours=1)).isoformat(),
        "createdBy": "hostile-bench",
        "comment": "hostile input",
    }
