"""The daemon's signals (SIGTERM and SIGINT stop it, SIGHUP reloads), acted on outside the
signal handler.

Python runs a signal handler in the main thread, between two of its bytecodes, wherever the
main thread is: within `Event.clear()` (the main loop clears its reload request), or within
the handler of the signal before (systemd, `timeout` and make each send SIGTERM: two in the
same microsecond). A handler that sets a `threading.Event` there waits for the lock its own
thread holds, for ever: the daemon no longer stops, reloads or reads (seen with `timeout 25
make run`, whose SIGTERM reached the daemon from timeout and from make). So the handler only
puts the signal's number on a `queue.SimpleQueue`, whose `put` is reentrant (its docs: safe
where it can interrupt itself), and a thread of its own runs the action.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType


def install(stop: Callable[[], None], reload: Callable[[], None]) -> None:
    """SIGTERM and SIGINT run `stop`, SIGHUP `reload`, each on the helper thread."""
    SignalActions({signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}).install()


class SignalActions:
    """Run `actions[signum]` on a helper thread for each signal received (from `install` on)."""

    def __init__(self, actions: Mapping[int, Callable[[], None]]) -> None:
        self._actions = dict(actions)
        self._received: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="alerter-signals", daemon=True)

    def install(self) -> None:
        """Start the helper thread and take the signals (from the main thread, as Python
        requires)."""
        self._thread.start()
        for signum in self._actions:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._received.put(signum)  # nothing else here: see the module docstring

    def _run(self) -> None:
        while True:
            self._actions[self._received.get()]()
