"""sd_notify without libsystemd: datagrams on $NOTIFY_SOCKET, abstract sockets, watchdog interval."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from alerter.runtime.sdnotify import SystemdNotifier


def test_no_socket_is_a_noop() -> None:
    n = SystemdNotifier({})
    assert not n.enabled
    assert n.ready("x") is False


def test_messages_on_a_path_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        s.settimeout(5)
        n = SystemdNotifier({"NOTIFY_SOCKET": path})
        n.ready("2 collectors")
        assert s.recv(1024) == b"READY=1\nSTATUS=2 collectors"
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        n.reloading()
        lines = s.recv(1024).decode().splitlines()
        assert lines[0] == "RELOADING=1"
        usec = int(lines[1].removeprefix("MONOTONIC_USEC="))
        assert before <= usec <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        n.stopping()
        assert s.recv(1024) == b"STOPPING=1"
        n.watchdog()
        assert s.recv(1024) == b"WATCHDOG=1"
        n.close()


def test_abstract_socket() -> None:
    name = f"alerter-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(5)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).status("hi")
        assert s.recv(1024) == b"STATUS=hi"


def test_watchdog_interval_is_half_of_watchdog_usec_and_only_for_our_pid() -> None:
    assert SystemdNotifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 15.0
    assert (
        SystemdNotifier(
            {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
        ).watchdog_interval
        == 15.0
    )
    assert (
        SystemdNotifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_interval
        is None
    )
    assert SystemdNotifier({}).watchdog_interval is None
