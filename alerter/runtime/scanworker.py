"""A helper process that runs the bulk rules' batch-wide passes while the daemon runs the rest.

Python runs one thread of bytecode at a time, so a busy log's rules share one core however many
the host has. The passes of single-key count, ratio and spike rules, of quantiles of a regex
group (`alerter.rules.bulk`) and of log-derived metrics (`alerter.rules.metricbulk`) need
nothing but a batch's text and return a few numbers and lines: for a large batch the engine
hands them to this process, runs its other rules meanwhile, then applies the summaries (`alerter.rules.scan.feed`). Small batches (a host's usual trickle) stay in-process: the
hand-over costs a round trip of some 30 µs.

The text goes through a shared memory file (memfd) the two processes map, with a pickled
message over a pipe to say a batch is there and which passes to run; the passes (patterns and
matchers) are sent when they change. The helper runs `alerter.rules.bulk.summarize`, the same code the
engine runs in-process, so results do not depend on where a pass ran.

The helper is trusted with nothing. Every step the daemon takes with it (start, hand-over,
reading the answer, close) is bounded by `timeout` (5 s, far inside the 30 s watchdog; a 1 MiB
batch takes it 2 ms) and guarded: if the helper dies, hangs, or answers out of step or with
anything but plain values (its answers are unpickled without access to any class or function,
then checked field by field; a quantile's values come as packed doubles), the engine runs the
passes itself, nothing is lost, the helper is killed and a new one is started after
RETRY_AFTER seconds. The transport is a `Channel` (`HelperProcess` for the real one) so tests
can make any step fail.

    python -m alerter.runtime.scanworker FD SIZE    (started by ScanWorker, never by hand)
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog

from alerter.rules.bulk import (
    EMPTY_VALUE,
    NO_MATCH,
    Counted,
    Unjudged,
    Values,
)
from alerter.rules.metricbulk import AnySummary, MetricDelta, Spec, run_pass
from alerter.rules.windows import EXAMPLES

log = structlog.get_logger(__name__)

MIN_CHARS = 256 << 10  # smaller batches are scanned in-process
BUFFER_BYTES = 8 << 20  # the largest batch handed over, UTF-8 encoded
RETRY_AFTER = 30.0
CLOSE_GRACE = 1.0  # seconds a helper has to exit once its input closes, before SIGKILL
KILL_WAIT = 2.0  # seconds to wait for a killed helper to be reaped
READY = ("ready",)
_HEADER = struct.Struct(">I")
_CHUNK = 1 << 20  # the most read at once (a frame's claimed length allocates nothing)


class Channel(Protocol):
    """The transport to one helper process: a shared buffer for a batch's text and a byte
    stream each way. `HelperProcess` is the real one; tests pass fakes that fail at any step.
    Any method but `close` may raise (OSError, ValueError...): the worker gives the helper up."""

    @property
    def pid(self) -> int | None: ...

    def put(self, data: bytes) -> None:
        """A batch's text (at most the buffer's size) into the shared buffer."""

    def write(self, data: bytes, deadline: float) -> None:
        """All of `data` to the helper; TimeoutError if the deadline (monotonic) passes first."""

    def read(self, n: int, deadline: float) -> bytes:
        """1 to n bytes from the helper; b"" at its end; TimeoutError at the deadline."""

    def close(self, grace: float) -> None:
        """End the helper (its input closes; SIGKILL after `grace` seconds) and free what the
        channel holds. Never raises."""


Spawn = Callable[[int], Channel]  # the buffer's size -> a channel to a new helper


class Garbled(ValueError):
    """The helper said something that is not an answer to what it was asked."""


class ScanWorker:
    """The daemon's side: `offload(text, specs)` for `alerter.rules.scan.feed`. One caller at a time
    (the engine's thread); each hand-over is waited for before the next. Neither the call, the
    wait it returns, `start` nor `close` raises: a failing helper costs in-process work only."""

    def __init__(
        self,
        min_chars: int = MIN_CHARS,
        buffer_bytes: int = BUFFER_BYTES,
        timeout: float = 5.0,
        retry_after: float = RETRY_AFTER,
        spawn: Spawn | None = None,
    ) -> None:
        self.min_chars = min_chars
        self.size = buffer_bytes
        self.timeout = timeout
        self.retry_after = retry_after
        self._spawn: Spawn = spawn or HelperProcess
        self._max_frame = 16 * buffer_bytes + (1 << 20)  # far above any true answer
        self._chan: Channel | None = None
        self._specs: tuple[Spec, ...] | None = None  # as the helper has them
        self._seq = 0
        self._retry_at = 0.0
        self.handed = 0  # batches handed over and answered (for tests and the bench)

    @property
    def pid(self) -> int | None:
        """The helper's process id while the worker uses it."""
        return self._chan.pid if self._chan is not None else None

    def __call__(
        self, text: str, specs: tuple[Spec, ...]
    ) -> Callable[[], list[AnySummary] | None] | None:
        if len(text) < self.min_chars or time.monotonic() < self._retry_at:
            return None
        try:
            data = text.encode("utf-8", "surrogatepass")
            if len(data) > self.size or not self.start():
                return None
            chan = self._chan
            assert chan is not None
            deadline = time.monotonic() + self.timeout
            chan.put(data)
            if specs != self._specs:
                chan.write(frame(("specs", specs)), deadline)
                self._specs = specs
            self._seq += 1
            chan.write(frame(("scan", self._seq, len(data))), deadline)
        except Exception as e:  # whatever the helper or its channel did: the passes run here
            self._fail("hand_over", e)
            return None
        return partial(self._wait, chan, self._seq, len(specs))

    def _wait(self, chan: Channel, seq: int, n: int) -> list[AnySummary] | None:
        if chan is not self._chan:
            return None  # given up (or closed) since the hand-over
        try:
            deadline = time.monotonic() + self.timeout
            kind, got, body = self._answer(chan, deadline)
            while got < seq:  # the answer to a hand-over not waited for
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no answer to hand-over {seq} within {self.timeout:g}s")
                kind, got, body = self._answer(chan, deadline)
            if got != seq:
                raise Garbled(f"answer to hand-over {got}, expected {seq}")
            if kind == "error":  # a pass failed there; it would fail here too, judged per rule
                log.warning("scan_worker_error", error=_brief(body))
                return None
            summaries = list(map(_summary, body))
            if len(summaries) != n:
                raise Garbled(f"{len(summaries)} summaries for {n} passes")
        except Exception as e:
            self._fail("answer", e)
            return None
        self.handed += 1
        return summaries

    def close(self) -> None:
        """End the helper (its input closes: it exits; killed if it has not within
        CLOSE_GRACE) and unmap the buffer. Never raises; ends only the process it started."""
        self._end(CLOSE_GRACE)

    # --- the helper process -----------------------------------------------------------------

    def start(self) -> bool:
        """Start the helper unless it runs (the first large batch does); True once it has said
        it is ready. Never raises."""
        if self._chan is not None:
            return True
        try:
            chan = self._chan = self._spawn(self.size)
            ready = self._frame(chan, time.monotonic() + self.timeout)
            if ready != READY:
                raise Garbled(f"said {_brief(ready)} instead of {READY!r}")
            log.info("scan_worker_started", pid=chan.pid)
        except Exception as e:  # no memfd (not Linux), no fork allowed, died while importing...
            self._fail("start", e)
            return False
        return True

    def _fail(self, step: str, e: Exception) -> None:
        log.warning(
            "scan_worker_failed",
            step=step,
            error=f"{type(e).__name__}: {e}",
            retry_in=self.retry_after,
        )
        self._end(0.0)
        self._retry_at = time.monotonic() + self.retry_after

    def _end(self, grace: float) -> None:
        chan, self._chan = self._chan, None
        self._specs = None
        if chan is not None:
            try:
                chan.close(grace)
            except Exception:  # a channel that breaks its own promise
                log.exception("scan_worker_close_failed")

    def _frame(self, chan: Channel, deadline: float) -> object:
        """The helper's next message, decoded from plain values only."""
        (size,) = _HEADER.unpack(_read_exactly(chan, _HEADER.size, deadline))
        if size > self._max_frame:
            raise Garbled(f"a frame of {size} bytes (at most {self._max_frame})")
        return _plain_loads(_read_exactly(chan, size, deadline))

    def _answer(self, chan: Channel, deadline: float) -> tuple[str, int, Any]:
        """("done", seq, [wire summary...]) or ("error", seq, why)."""
        msg = self._frame(chan, deadline)
        if (
            type(msg) is tuple
            and len(msg) == 3
            and type(msg[1]) is int
            and (
                (msg[0] == "done" and type(msg[2]) is list)
                or (msg[0] == "error" and type(msg[2]) is str)
            )
        ):
            return msg
        raise Garbled(f"not an answer: {_brief(msg)}")


def _read_exactly(chan: Channel, n: int, deadline: float) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = chan.read(min(n - len(got), _CHUNK), deadline)
        if not chunk:
            raise EOFError(f"the helper's output ended {len(got)} bytes into {n}")
        got += chunk
    return bytes(got)


class _PlainUnpickler(pickle.Unpickler):
    """Builds only what needs no class or function: tuples, lists, str, bytes, numbers, None.
    A pickle that names any global (the way pickles run code) fails to load."""

    def find_class(self, module: str, name: str) -> Any:
        raise Garbled(f"the helper's answer names {module}.{name}: only plain values are read")


def _plain_loads(body: bytes) -> object:
    f = io.BytesIO(body)
    msg = _PlainUnpickler(f).load()
    if f.tell() != len(body):
        raise Garbled(f"{len(body) - f.tell()} bytes after the message")
    return msg


# a summary on the wire (plain values only): None (NoMatch), "fallback" (Unjudged),
# (lines, accepted, examples) (Counted), (values as packed doubles, examples) (Values),
# ("metric", [label values...], values as packed doubles, [(label values, counts, sum)...])
# (a log-derived metric's MetricDelta: per label set, what to add; a histogram's buckets)
_UNJUDGED = "fallback"
_METRIC = "metric"


def _summary(w: object) -> AnySummary:
    """A pass's summary as the helper sent it (`_to_wire`), checked; Garbled if it is not one."""
    if w is None:
        return NO_MATCH
    if type(w) is str and w == _UNJUDGED:
        return EMPTY_VALUE
    if type(w) is tuple and len(w) in (2, 3) and _examples(w[-1]):
        if len(w) == 3 and type(w[0]) is int and type(w[1]) is int and 0 <= w[1] <= w[0]:
            return Counted(w[0], w[1], w[2])
        if len(w) == 2 and type(w[0]) is bytes and len(w[0]) % 8 == 0:
            xs = array("d")
            xs.frombytes(w[0])
            return Values(xs.tolist(), w[1])
    if type(w) is tuple and len(w) == 4 and w[0] == _METRIC:
        return _metric_delta(w[1], w[2], w[3])
    raise Garbled(f"not a pass's summary: {_brief(w)}")


def _labels(k: object) -> bool:
    return type(k) is tuple and all(type(x) is str for x in k)


def _metric_delta(keys: object, packed: object, hists: object) -> MetricDelta:
    """A metric's summary from the wire, checked value by value; Garbled if it is not one."""
    if (
        type(keys) is list
        and type(packed) is bytes
        and len(packed) == 8 * len(keys)
        and type(hists) is list
        and all(map(_labels, keys))
    ):
        xs = array("d")
        xs.frombytes(packed)
        out = MetricDelta(dict(zip(keys, xs.tolist(), strict=True)), {})
        for h in hists:
            if not (
                type(h) is tuple
                and len(h) == 3
                and _labels(h[0])
                and type(h[1]) is tuple
                and all(type(c) is int and c >= 0 for c in h[1])
                and type(h[2]) is float
            ):
                raise Garbled(f"not a histogram's summary: {_brief(h)}")
            out.hists[h[0]] = (h[1], h[2])
        return out
    raise Garbled(f"not a metric's summary: {_brief((keys, hists))}")


def _examples(x: object) -> bool:
    return type(x) is list and len(x) <= EXAMPLES and all(type(s) is str for s in x)


def _to_wire(s: AnySummary) -> object:
    """A summary as plain values (a quantile's values as packed doubles: they cannot come back
    as anything but floats)."""
    if isinstance(s, MetricDelta):
        hists = [(k, tuple(c), float(t)) for k, (c, t) in s.hists.items()]
        return _METRIC, list(s.adds), array("d", s.adds.values()).tobytes(), hists
    if isinstance(s, Counted):
        return s.lines, s.accepted, s.examples
    if isinstance(s, Values):
        return array("d", s.values).tobytes(), s.examples
    if isinstance(s, Unjudged):
        return _UNJUDGED
    return None


def _brief(x: object) -> str:
    r = repr(x)
    return r if len(r) <= 80 else r[:77] + "..."


class HelperProcess:
    """The real channel: `python -m alerter.runtime.scanworker` with a memfd both map and a pipe each
    way (non-blocking on this side, so no step waits past its deadline)."""

    def __init__(self, size: int) -> None:
        fd = os.memfd_create("alerter-scan", 0)
        try:
            os.ftruncate(fd, size)
            self._buf = mmap.mmap(fd, size)
            env = dict(os.environ)
            root = str(Path(__file__).resolve().parent.parent)  # this very code, installed or not
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "alerter.runtime.scanworker", str(fd), str(size)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    bufsize=0,
                    pass_fds=(fd,),
                    env=env,
                )
            except BaseException:
                self._buf.close()
                raise
        finally:
            os.close(fd)  # the helper has its own; the mapping keeps the memory
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._to, self._from = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        os.set_blocking(self._to, False)
        os.set_blocking(self._from, False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def put(self, data: bytes) -> None:
        self._buf[: len(data)] = data

    def write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._to, view) :]
            except BlockingIOError:  # the pipe is full: the helper is not reading
                _await(self._to, select.POLLOUT, deadline)

    def read(self, n: int, deadline: float) -> bytes:
        while True:
            try:
                return os.read(self._from, n)
            except BlockingIOError:
                _await(self._from, select.POLLIN, deadline)

    def close(self, grace: float) -> None:
        proc = self._proc
        for stream in (proc.stdin, proc.stdout):  # unbuffered: nothing left to flush
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()  # Popen's own child, and only while it is not reaped
                proc.wait(timeout=KILL_WAIT)
        except Exception as e:  # in uninterruptible sleep; Popen reaps it later
            log.warning("scan_worker_not_ended", pid=proc.pid, error=f"{type(e).__name__}: {e}")
        with contextlib.suppress(Exception):
            self._buf.close()


def _await(fd: int, event: int, deadline: float) -> None:
    """Until fd is ready for `event` (or errs: the next call says how); TimeoutError at the
    deadline. (poll, not select: a daemon's fds may be numbered past FD_SETSIZE.)"""
    p = select.poll()
    p.register(fd, event)
    left = deadline - time.monotonic()
    if left <= 0 or not p.poll(left * 1000):
        raise TimeoutError("the helper did not answer in time")


# --- the helper's side --------------------------------------------------------------------------


class Helper:
    """What the helper does with each message from the daemon (its transport aside)."""

    def __init__(self, buf: mmap.mmap | bytearray) -> None:
        self.buf = buf
        self.specs: tuple[Spec, ...] = ()

    def handle(self, msg: Any) -> tuple[Any, ...] | None:
        """The answer to a message, if it asks for one."""
        if msg[0] == "specs":
            self.specs = msg[1]
            return None
        _, seq, nbytes = msg
        try:
            text = str(self.buf[:nbytes], "utf-8", "surrogatepass")
            shared: dict[object, Any] = {}
            return "done", seq, [_to_wire(run_pass(s, text, shared)) for s in self.specs]
        except Exception as e:  # a pass that fails here would fail in-process too
            return "error", seq, f"{type(e).__name__}: {e}"


def frame(msg: Any) -> bytes:
    """A message as it goes over the pipe: its length, then its pickle."""
    body = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def serve(fd: int, size: int, inp: int = 0, out: int = 1) -> None:
    """The helper's loop: specs and scan requests in, summaries out, until its input ends."""
    helper = Helper(mmap.mmap(fd, size, prot=mmap.PROT_READ))
    try:
        _write(out, frame(READY))
        while True:
            (n,) = _HEADER.unpack(_read_fd(inp, _HEADER.size))
            reply = helper.handle(pickle.loads(_read_fd(inp, n)))
            if reply is not None:
                _write(out, frame(reply))
    except (EOFError, BrokenPipeError):  # the daemon closed its end (or is gone)
        return


def _read_fd(fd: int, n: int) -> bytes:
    parts: list[bytes] = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError("the daemon closed the pipe")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    # the pipe to the daemon gets its own fd; anything printed goes to stderr, not into it
    answers = os.dup(1)
    os.dup2(2, 1)
    serve(int(sys.argv[1]), int(sys.argv[2]), out=answers)
