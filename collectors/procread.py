"""Read a child process's stdout and stderr by a deadline, never more than a cap of each.

`communicate()` holds the whole output in memory before a caller can cut it: a command that
writes gigabytes exhausts the daemon's memory first. `read_child_output` reads both pipes as they
fill (so a child blocked writing one pipe never stalls the other), keeps at most `max_out + 1`
bytes of stdout (one more than the cap tells overflow apart from an output of exactly the cap)
and the first `max_err` bytes of stderr (the rest of stderr is read and dropped), and stops at
stdout's overflow or at the deadline, whichever comes first: the caller then kills the child.
"""

from __future__ import annotations

import os
import selectors
import time
from dataclasses import dataclass
from typing import IO

CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Output:
    stdout: bytes
    stderr: bytes
    ended: bool  # both pipes reached their end (else: overflow or the deadline)
    overflow: bool  # stdout passed the cap (`stdout` holds the cap + 1 bytes)


def read_child_output(
    stdout: IO[bytes], stderr: IO[bytes], max_out: int, max_err: int, timeout: float
) -> Output:
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(stdout, selectors.EVENT_READ, out)
        sel.register(stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return Output(bytes(out), bytes(err), ended=False, overflow=False)
            for key, _ in sel.select(left):
                buf: bytearray = key.data
                want = max_out + 1 - len(out) if buf is out else CHUNK
                data = os.read(key.fd, min(CHUNK, want))
                if not data:
                    sel.unregister(key.fileobj)
                elif buf is out:
                    out += data
                    if len(out) > max_out:
                        return Output(bytes(out), bytes(err), ended=False, overflow=True)
                elif len(err) < max_err:
                    err += data[: max_err - len(err)]
    return Output(bytes(out), bytes(err), ended=True, overflow=False)
