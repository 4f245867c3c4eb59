"""Test doubles for the scan helper's transport (`alerter.runtime.scanworker.Channel`).

`FakeHelper` is a helper in this process: the frames written to it go through the helper's own
message handling (`alerter.runtime.scanworker.Helper`), and its answers are read back as bytes, so the
worker's framing, decoding and checks all run. It fails on purpose at one step:

- a transport fault at operation number `at` (put, write and read counted from 0; the helper's
  "ready" is read by operations 0 and 1): `raise` (that operation fails with an OSError or
  ValueError), `eof` (the helper is gone from then on), `hang` (from then on nothing comes and
  nothing goes until the deadline passes, as with a full pipe or a stopped process),
  `truncate` (half of what the read asks for, then the end: a frame cut short), `noise`
  (bytes that are no frame);
- or a garbled answer: the `at`-th frame the helper sends (0 is "ready") is replaced by one of
  `GARBLES`.

`Killing` wraps the real channel and sends the real helper a signal before operation `at`.
"""

from __future__ import annotations

import os
import pickle
import struct
import time
from collections.abc import Callable
from typing import Any

from alerter.runtime.scanworker import READY, Helper, HelperProcess, frame

FAULTS = ("raise", "eof", "hang", "truncate", "noise")
HEADER = struct.Struct(">I")

pwned: list[str] = []  # what an evil answer managed to run (it must stay empty)


def pwn() -> None:
    pwned.append("code sent by the helper ran in the daemon")


class Evil:
    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        return pwn, ()


def _body(msg: Any) -> bytes:
    return pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)


def _framed(body: bytes, length: int | None = None) -> bytes:
    return HEADER.pack(len(body) if length is None else length) + body


def _done(msg: tuple[Any, ...], summaries: list[Any]) -> bytes:
    """The answer with other summaries ("ready" with them added: garbled as well)."""
    return frame((*msg[:2], summaries) if msg[0] == "done" else (*msg, summaries))


def _first_replaced(msg: tuple[Any, ...], by: Any) -> bytes:
    return _done(msg, [by, *msg[2][1:]] if msg[0] == "done" and msg[2] else [by])


# the helper's n-th answer (a tuple as it would send it) -> the bytes sent instead
GARBLES: dict[str, Callable[[tuple[Any, ...]], bytes]] = {
    "length_short": lambda m: _framed(_body(m), len(_body(m)) - 1),
    "length_long": lambda m: _framed(_body(m), len(_body(m)) + 7),  # waits for bytes never sent
    "length_huge": lambda m: _framed(_body(m), 0xFFFFFFFF),
    "length_zero": lambda m: _framed(b"", 0) + frame(m),
    "pickle_truncated": lambda m: _framed(_body(m)[:-3]),
    "pickle_trailing": lambda m: _framed(_body(m) + b"\x00\x01"),
    "pickle_bad_opcode": lambda m: _framed(b"\x80\x05\xff\xfe" + _body(m)[4:]),
    "code": lambda m: frame((*m[:2], Evil())) if len(m) > 1 else frame((Evil(),)),
    "code_in_summary": lambda m: _first_replaced(m, Evil()),
    "object_in_summary": lambda m: _first_replaced(m, (1, 0, [complex(1, 2)])),
    "a_list": lambda m: frame(list(m)),
    "wrong_kind": lambda m: frame(("dome", *m[1:])),
    "seq_as_bool": lambda m: frame((m[0], True, *m[2:])) if len(m) > 1 else frame(("ready", 1)),
    "seq_stale": lambda m: frame((m[0], m[1] - 1, *m[2:])) if len(m) > 1 else frame(()),
    "seq_ahead": lambda m: frame((m[0], m[1] + 1, *m[2:])) if len(m) > 1 else frame(None),
    "summaries_fewer": lambda m: _done(m, m[2][:-1]) if m[0] == "done" else frame((*m, 0)),
    "summaries_more": lambda m: _done(m, [*m[2], None]) if m[0] == "done" else frame("ready"),
    "summary_shape": lambda m: _first_replaced(m, ("x",)),
    "summary_counts": lambda m: _first_replaced(m, (1, 2, [])),  # more hits than lines
    "summary_negative": lambda m: _first_replaced(m, (-1, -1, [])),
    "summary_examples": lambda m: _first_replaced(m, (3, 0, ["a", b"b"])),
    "summary_string": lambda m: _first_replaced(m, "not the fallback"),
    "values_as_list": lambda m: _first_replaced(m, ([1.0, "2"], [])),
    "values_odd_bytes": lambda m: _first_replaced(m, (b"\x00" * 7, [])),
}


class FakeHelper:
    """A `Channel` to an in-process helper that fails on purpose (see the module docstring)."""

    def __init__(self, size: int, fault: str | None = None, at: int = 0) -> None:
        assert fault is None or fault in FAULTS or fault in GARBLES, fault
        self.buf = bytearray(size)
        self.helper = Helper(self.buf)
        self.fault, self.at = fault, at
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.ops = 0
        self.sent = 0  # frames the helper has sent
        self.answered = 0  # scan requests answered truly
        self.fired = False
        self.dead: str | None = None  # "eof" or "hang" once the helper is gone
        self.closed: list[float] = []  # each close's grace
        self.deadlines_past_timeout = 0  # waits asked beyond the worker's timeout
        self.timeout: float | None = None  # the worker's, to check deadlines against
        self._reply(READY)

    @property
    def pid(self) -> int | None:
        return None

    def put(self, data: bytes) -> None:
        if self._fault_now("put"):
            raise ValueError("mmap closed or invalid")
        self.buf[: len(data)] = data

    def write(self, data: bytes, deadline: float) -> None:
        self._check(deadline)
        if self._fault_now("write"):
            raise BrokenPipeError(32, "Broken pipe")
        if self.dead == "eof":
            raise BrokenPipeError(32, "Broken pipe")
        if self.dead == "hang":
            self._hang(deadline)
        self.inbox += data
        while len(self.inbox) >= HEADER.size:
            (n,) = HEADER.unpack_from(self.inbox)
            if len(self.inbox) < HEADER.size + n:
                break
            msg = pickle.loads(self.inbox[HEADER.size : HEADER.size + n])
            del self.inbox[: HEADER.size + n]
            reply = self.helper.handle(msg)
            if reply is not None:
                self._reply(reply)

    def read(self, n: int, deadline: float) -> bytes:
        self._check(deadline)
        if self._fault_now("read"):
            if self.fault == "raise":
                raise ConnectionResetError(104, "Connection reset by peer")
            if self.fault == "truncate":
                part = bytes(self.outbox[: max(1, min(n, len(self.outbox)) // 2)])
                self.dead = "eof"
                return part
            if self.fault == "noise":
                return bytes((i * 37 + 11) % 256 for i in range(n))
        if self.dead == "eof":
            return b""
        if self.dead == "hang" or not self.outbox:  # nothing to say: as a hung helper
            self._hang(deadline)
        part = bytes(self.outbox[:n])
        del self.outbox[:n]
        return part

    def close(self, grace: float) -> None:
        self.closed.append(grace)

    def _reply(self, msg: tuple[Any, ...]) -> None:
        garble = GARBLES.get(self.fault or "")
        if garble is not None and self.sent == self.at:
            self.fired = True
            self.outbox += garble(msg)
        else:
            self.outbox += frame(msg)
            if msg[0] == "done":
                self.answered += 1
        self.sent += 1

    def _fault_now(self, op: str) -> bool:
        """True if this operation is the faulty one and fails in its own way."""
        k, self.ops = self.ops, self.ops + 1
        if self.fault not in FAULTS or k != self.at:
            return False
        self.fired = True
        if self.fault in ("eof", "hang"):
            self.dead = self.fault
            return False
        if self.fault in ("truncate", "noise") and op != "read":
            self.dead = "eof"  # what the helper got was cut or garbled: it died of it
            return False
        return op != "put" or self.fault == "raise"

    def _check(self, deadline: float) -> None:
        if self.timeout is not None and deadline > time.monotonic() + self.timeout:
            self.deadlines_past_timeout += 1

    def _hang(self, deadline: float) -> None:
        """Nothing happens until the deadline, as with a stopped helper."""
        time.sleep(max(0.0, deadline - time.monotonic()))
        raise TimeoutError("the helper did not answer in time")


class Killing:
    """The real channel, whose helper gets `sig` just before operation number `at` (None: just
    before the channel is closed)."""

    def __init__(self, real: HelperProcess, sig: int, at: int | None) -> None:
        self.real, self.sig, self.at = real, sig, at
        self.ops = 0
        self.fired = False

    @property
    def pid(self) -> int | None:
        return self.real.pid

    def _step(self) -> None:
        k, self.ops = self.ops, self.ops + 1
        if k == self.at and self.pid is not None:
            self.fired = True
            os.kill(self.pid, self.sig)

    def put(self, data: bytes) -> None:
        self._step()
        self.real.put(data)

    def write(self, data: bytes, deadline: float) -> None:
        self._step()
        self.real.write(data, deadline)

    def read(self, n: int, deadline: float) -> bytes:
        self._step()
        return self.real.read(n, deadline)

    def close(self, grace: float) -> None:
        if self.at is None and self.pid is not None:
            self.fired = True
            os.kill(self.pid, self.sig)
        self.real.close(grace)
