"""Where the file collector reads from: `start_at` on a first run, positions saved only once a
batch is acknowledged, a saved position whose file is another, and kill -9 at any moment."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.collectors.tail import SavedPosition
from alerter.testing import RecordingSink
from tests.collectors.file_harness import Harness, append, numbered
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_start_at_end_skips_existing_lines_on_first_run_only(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, ["old 1", "old 2"])
    c, sink = h.start(start_at="end")
    append(log, ["new 1"])
    wait_for(lambda: sink.lines == ["new 1"])
    h.stop(c)
    append(log, ["while stopped"])
    _, sink2 = h.start(start_at="end")
    wait_for(lambda: sink2.lines == ["while stopped"])


def test_positions_advance_only_when_acked(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("a", 5))
    c, sink = h.start(sink=RecordingSink(auto_ack=False))
    wait_for(lambda: len(sink.lines) == 5)
    h.stop(c)  # never acknowledged: a restart must deliver the lines again
    _, again = h.start()
    wait_for(lambda: again.lines == numbered("a", 5))

    def saved_offsets() -> list[int]:
        loaded = [SavedPosition.loads(v) for v in h.positions.load_positions("f").values()]
        return [p.offset for p in loaded if p is not None]

    wait_for(lambda: saved_offsets() == [log.stat().st_size])


def test_inode_with_other_first_bytes_is_a_new_file(h: Harness) -> None:
    log = h.tmp / "app.log"
    append(log, numbered("new", 3))
    st = log.stat()
    stale = SavedPosition(str(log), st.st_dev, st.st_ino, 5, "0" * 40, 6)  # same inode, other file
    h.positions.save_positions("f", {stale.key: stale.dumps()})
    _, sink = h.start()
    wait_for(lambda: sink.lines == numbered("new", 3))


def test_kill_9_at_any_moment_loses_no_line(tmp_path: Path) -> None:
    """SIGKILL the collector process twice while lines are being written; every line arrives,
    and the only repeats are the batches that were delivered but not yet acknowledged."""
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    log, out, state = tmp_path / "app.log", tmp_path / "out", tmp_path / "state"
    total = 60_000

    def child() -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-m", "tests.collectors.filechild", str(state), str(log), str(out)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "started"
        return p

    def delivered() -> list[int]:
        text = out.read_text() if out.exists() else ""
        return [int(x.split()[1]) for x in text.split("\n")[:-1] if x]

    written = 0

    def write(n: int) -> None:
        nonlocal written
        with log.open("a") as f:
            f.write("".join(f"line {i} {'x' * 80}\n" for i in range(written, written + n)))
        written += n

    write(20_000)
    runs: list[int] = []  # index into delivered() where each run started
    for _ in range(2):
        runs.append(len(delivered()))
        p = child()
        target = len(delivered()) + 5_000
        wait_for(lambda t=target: len(delivered()) >= t)  # type: ignore[misc]
        write(10_000)
        p.send_signal(signal.SIGKILL)
        p.wait()
    runs.append(len(delivered()))
    p = child()
    write(total - written)
    try:
        wait_for(lambda: delivered() and delivered()[-1] == total - 1, timeout=30)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    got = delivered()
    assert set(got) == set(range(total)), "a line was lost"
    repeats = 0
    for start, end in zip(runs, [*runs[1:], len(got)], strict=True):
        part = got[start:end]
        assert part == sorted(set(part)), "lines out of order or repeated within one run"
        if start:
            assert part[0] <= got[start - 1] + 1, "a gap between runs"
            repeats += got[start - 1] + 1 - part[0]
    assert len(got) == total + repeats
