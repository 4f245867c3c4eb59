"""The whole-call deadline's timer: one thread for every deadline, cutting the connections of
each that passes before its block ends, and only those."""

from __future__ import annotations

import socket
import threading
import time

from alerter.collectors import httpdeadline
from tests.conftest import wait_for


def test_a_deadline_that_passes_cuts_its_connection_and_one_that_ended_is_left_alone() -> None:
    slow_a, slow_b = socket.socketpair()
    quick_a, quick_b = socket.socketpair()
    try:
        with httpdeadline.within(5.0) as quick:
            quick.watch(quick_a)  # ends long before its deadline
        t = time.monotonic()
        with httpdeadline.within(0.3) as slow:
            slow.watch(slow_a)
            assert slow_a.recv(1) == b""  # blocked until the deadline cut it
            assert slow.expired
        assert time.monotonic() - t < 4.0  # cut at its deadline, not at the earlier one's
        assert not quick.expired
        quick_b.sendall(b"x")
        assert quick_a.recv(1) == b"x"  # never cut
    finally:
        for s in (slow_a, slow_b, quick_a, quick_b):
            s.close()


def test_calls_share_one_timer_thread() -> None:
    """A timer thread started for each call cost a fifth of a notification sender's time."""
    before = {t.ident for t in threading.enumerate()}
    for _ in range(50):
        with httpdeadline.within(30.0):
            pass
    started = [t for t in threading.enumerate() if t.ident not in before]
    assert [t.name for t in started] in ([], ["http-deadline"])


def test_deadlines_from_many_threads_each_end_on_time() -> None:
    pairs = [socket.socketpair() for _ in range(8)]
    cut: list[float] = []

    def call(i: int) -> None:
        with httpdeadline.within(0.2 + 0.05 * i) as d:
            d.watch(pairs[i][0])
            pairs[i][0].recv(1)
            if d.expired:
                cut.append(d.seconds)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: len(cut) == 8, timeout=10)
        for t in threads:
            t.join()
        assert sorted(cut) == [0.2 + 0.05 * i for i in range(8)]
    finally:
        for a, b in pairs:
            a.close()
            b.close()
