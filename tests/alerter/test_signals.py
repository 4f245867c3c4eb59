"""The daemon's signals are acted on outside the handler (alerter/runtime/signals.py): a signal
that lands while the main thread holds the lock of the Event its action sets (the main loop
within `Event.clear()`, or the handler of the signal before) must not hang the daemon.

Each case runs in a child process, which a hang would stop for ever: it is killed by its PID
after the deadline."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import os, signal, sys, threading
from alerter.runtime.signals import SignalActions

reload, stop = threading.Event(), threading.Event()
if sys.argv[1] == "actions":
    SignalActions({signal.SIGHUP: reload.set, signal.SIGTERM: stop.set}).install()
else:  # the handlers the daemon had: the action in the handler
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

with reload._cond:  # as the main loop within reload.clear(): this thread holds its lock
    os.kill(os.getpid(), signal.SIGHUP)
    sum(range(100_000))  # the handler runs between two of these bytecodes
with stop._cond:  # as a handler within stop.set(), when a second SIGTERM comes
    signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
assert reload.wait(10) and stop.wait(10)
print("acted", flush=True)
"""


def run_child(handlers: str, deadline: float) -> str | None:
    """The child's output, or None when it hung (killed after `deadline` seconds: a hung
    child's own SIGTERM handler hangs too)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, handlers], stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
    assert proc.returncode == 0
    return out.decode()


def test_a_signal_within_the_lock_its_action_takes_is_acted_on() -> None:
    assert run_child("actions", 30) == "acted\n"


def test_the_old_handlers_hang_there() -> None:
    """The case above is one that hangs an action run in the handler (so it tests something)."""
    assert run_child("direct", 5) is None
