"""A helper process that runs the bulk rules' batch-wide passes while the daemon runs the rest.

Python runs one thread of bytecode at a time, so a busy log's rules share one core however many
the host has. The passes of single-key count, ratio and spike rules and of quantiles of a regex
group (`rules.bulk`) need nothing but a batch's text and return a few numbers and lines: for a
large batch the engine hands them to this process, runs its other rules meanwhile, then applies
the summaries (`rules.scan.feed`). Small batches (a host's usual trickle) stay in-process: the
hand-over costs a round trip of some 30 µs.

The text goes through a shared memory file (memfd) the two processes map, with a pickled
message over a pipe to say a batch is there and which passes to run; the passes (patterns and
matchers) are sent when they change. The helper runs `rules.bulk.summarize`, the same code the
engine runs in-process, so results do not depend on where a pass ran. If the helper fails, dies
or does not answer within `timeout` (5 s, far inside the 30 s watchdog; a 1 MiB batch takes
it 2 ms), the engine runs the passes itself: nothing is lost, and a new helper is started after
RETRY_AFTER seconds.

    python -m alerter.scanworker FD SIZE    (started by ScanWorker, never by hand)
"""

from __future__ import annotations

import mmap
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from rules.bulk import BulkSpec, Summary, summarize

log = structlog.get_logger(__name__)

MIN_CHARS = 256 << 10  # smaller batches are scanned in-process
BUFFER_BYTES = 8 << 20  # the largest batch handed over, UTF-8 encoded
RETRY_AFTER = 30.0
_HEADER = struct.Struct(">I")


class ScanWorker:
    """The daemon's side: `offload(text, specs)` for `rules.scan.feed`. One caller at a time
    (the engine's thread); each hand-over is waited for before the next."""

    def __init__(self, min_chars: int = MIN_CHARS, buffer_bytes: int = BUFFER_BYTES,
                 timeout: float = 5.0, retry_after: float = RETRY_AFTER) -> None:
        self.min_chars = min_chars
        self.size = buffer_bytes
        self.timeout = timeout
        self.retry_after = retry_after
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self._buf: mmap.mmap | None = None
        self._specs: tuple[BulkSpec, ...] | None = None  # as the helper has them
        self._seq = 0
        self._retry_at = 0.0
        self.handed = 0  # batches handed over and answered (for tests and the bench)

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def __call__(self, text: str, specs: tuple[BulkSpec, ...]
                 ) -> Callable[[], list[Summary] | None] | None:
        if len(text) < self.min_chars or time.monotonic() < self._retry_at:
            return None
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > self.size or not self.start():
            return None
        assert self._buf is not None
        try:
            self._buf[: len(data)] = data
            if specs != self._specs:
                self._send(("specs", specs))
                self._specs = specs
            self._seq += 1
            self._send(("scan", self._seq, len(data)))
        except (OSError, ValueError) as e:
            self._fail(f"hand-over failed: {e}")
            return None
        seq = self._seq
        return lambda: self._wait(seq, len(specs))

    def _wait(self, seq: int, n: int) -> list[Summary] | None:
        deadline = time.monotonic() + self.timeout
        try:
            msg = self._recv(deadline)
            while msg is not None and msg[1] < seq:  # the answer to a hand-over not waited for
                msg = self._recv(deadline)
        except (OSError, EOFError, pickle.UnpicklingError) as e:
            self._fail(f"no answer: {e}")
            return None
        if msg is None:
            self._fail(f"no answer within {self.timeout:g}s")
            return None
        if msg[0] != "done" or msg[1] != seq or len(msg[2]) != n:
            log.warning("scan_worker_error", error=str(msg[2]) if msg[0] == "error" else
                        f"unexpected answer {msg[0]!r}")
            if msg[0] != "error":
                self._fail("out of step")
            return None
        self.handed += 1
        return list(msg[2])

    def close(self) -> None:
        """End the helper (its stdin closes: it exits) and unmap the buffer."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._buf is not None:
            self._buf.close()
            self._buf = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._specs = None

    # --- the helper process -----------------------------------------------------------------

    def start(self) -> bool:
        """Start the helper unless it runs (the first large batch does); True if it runs."""
        if self._proc is not None:
            return True
        try:
            self._fd = os.memfd_create("alerter-scan", 0)
            os.ftruncate(self._fd, self.size)
            self._buf = mmap.mmap(self._fd, self.size)
            env = dict(os.environ)
            root = str(Path(__file__).resolve().parent.parent)  # this very code, installed or not
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "alerter.scanworker", str(self._fd), str(self.size)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(self._fd,), env=env,
            )
        except (OSError, AttributeError) as e:  # no memfd (not Linux), no fork allowed...
            self._fail(f"cannot start: {e}")
            return False
        try:  # it says so once it has imported what it runs
            ready = self._recv(time.monotonic() + self.timeout)
        except (OSError, EOFError, pickle.UnpicklingError) as e:
            ready = e
        if ready != ("ready",):
            self._fail(f"did not start: {ready!r}")
            return False
        log.info("scan_worker_started", pid=self._proc.pid)
        return True

    def _fail(self, why: str) -> None:
        log.warning("scan_worker_failed", error=why, retry_in=self.retry_after)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self.close()
        self._retry_at = time.monotonic() + self.retry_after

    def _send(self, msg: Any) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        body = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        self._proc.stdin.write(_HEADER.pack(len(body)) + body)
        self._proc.stdin.flush()

    def _recv(self, deadline: float) -> Any:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        head = _read_exactly(fd, _HEADER.size, deadline)
        if head is None:
            return None
        body = _read_exactly(fd, _HEADER.unpack(head)[0], deadline)
        return None if body is None else pickle.loads(body)


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes | None:
    """n bytes from fd; None when the deadline passes first. EOFError at end of file."""
    parts: list[bytes] = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError("the other end closed")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def serve(fd: int, size: int, inp: int = 0, out: int = 1) -> None:
    """The helper's loop: specs and scan requests in, summaries out, until stdin closes."""
    buf = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    specs: tuple[BulkSpec, ...] = ()
    _write(out, ("ready",))
    while True:
        try:
            head = _read_exactly(inp, _HEADER.size, None)
        except EOFError:
            return
        assert head is not None
        body = _read_exactly(inp, _HEADER.unpack(head)[0], None)
        assert body is not None
        msg = pickle.loads(body)
        if msg[0] == "specs":
            specs = msg[1]
            continue
        _, seq, nbytes = msg
        try:
            text = str(buf[:nbytes], "utf-8", "surrogatepass")
            shared: dict[object, list[Any]] = {}
            reply: tuple[Any, ...] = ("done", seq, [summarize(s, text, shared) for s in specs])
        except Exception as e:  # a pass that fails here would fail in-process too
            reply = ("error", seq, f"{type(e).__name__}: {e}")
        _write(out, reply)


def _write(fd: int, msg: Any) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
