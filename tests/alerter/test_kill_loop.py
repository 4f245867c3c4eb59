"""kill -9 at random moments loses nothing: the real `alerter run` process, a writer appending
distinct-key lines with rename and copytruncate rotation, and a loopback webhook that must see
every key (at least once: duplicates are allowed and counted, none may be missing)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.harness.crashtest import DaemonProcess, KeyReceiver, RotatingWriter, write_config
from alerter.testing import free_port

KILLS = 12
# The run is seeded so that a failure can be repeated; ALERTER_KILL_SEED picks another.
SEED = int(os.environ.get("ALERTER_KILL_SEED", "20261201"))


pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[KeyReceiver]:
    r = KeyReceiver(fail=0.1, seed=7)
    yield r
    r.close()


def test_random_kill_9_with_rotation_loses_no_key(
    tmp_path: Path, receiver: KeyReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    rnd = random.Random(SEED)
    port = free_port()
    cfg = write_config(tmp_path, receiver.url, port)
    writer = RotatingWriter(tmp_path / "app.log")
    daemon = DaemonProcess(cfg, port, tmp_path / "alerter.log")
    kills = 0
    try:
        for round_ in range(KILLS):
            daemon.wait_ready()
            # Write and rotate while it runs, then kill it at a random moment: while it reads,
            # evaluates, commits or sends (the receiver fails 10% of calls, so sends retry).
            for _ in range(rnd.randint(2, 5)):
                writer.write(rnd.randint(50, 250))
                if rnd.random() < 0.4:
                    writer.rotate("rename" if round_ % 2 else "copytruncate")
                time.sleep(rnd.uniform(0.0, 0.15))  # the pace of the writer, not a synchronisation
            time.sleep(rnd.uniform(0.0, 0.5))  # a random moment to kill at
            daemon.kill()
            kills += 1
            writer.write(rnd.randint(0, 100))  # lines written while it is down
            daemon = DaemonProcess(cfg, port, tmp_path / "alerter.log")
        daemon.wait_ready()
        expected = writer.keys()
        deadline = time.monotonic() + 120
        while not expected <= receiver.keys() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        daemon.stop()
    missing = expected - receiver.keys()
    assert not missing, f"{len(missing)} keys never notified: {_ranges(missing)}"
    assert kills == KILLS and writer.rotations["rename"] and writer.rotations["copytruncate"]
    with capsys.disabled():
        print(
            f"\nkill loop (seed {SEED}): {writer.written} keys, {kills} kill -9, rotations "
            f"{dict(writer.rotations)}, receiver calls {receiver.calls} ({receiver.failed} "
            f"failed on purpose), duplicates {receiver.duplicates()}, missing {len(missing)}"
        )


def _ranges(keys: set[str]) -> str:
    """1,2,3,7 -> "1-3, 7" (the first 20 ranges)."""
    nums = sorted(int(k) for k in keys)
    out: list[str] = []
    start = prev = nums[0]
    for n in [*nums[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}-{prev}" if prev != start else str(start))
        if n is not None:
            start = prev = n
    return ", ".join(out[:20])
