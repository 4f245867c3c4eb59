"""The tools of bench/hostile.py: the stand-in for systemd's watchdog, metric reading, the log
writer and the raw loopback servers."""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path

import pytest
import requests

from alerter.harness.hostile import LogFile, WatchdogListener, metric, syslog_line, wait_for
from alerter.harness.servers import RawServer, hung, ok, too_many
from alerter.runtime.sdnotify import SystemdNotifier


def test_watchdog_pings_from_the_daemons_notifier_are_recorded(tmp_path: Path) -> None:
    listener = WatchdogListener(tmp_path / "notify.sock", interval=0.2)
    try:
        env = listener.env()
        assert env["WATCHDOG_USEC"] == "400000"
        notifier = SystemdNotifier(env)  # what `alerter run` builds from its environment
        assert notifier.watchdog_interval == 0.2
        start = time.time()
        assert notifier.watchdog()
        assert wait_for(lambda: listener.count() == 1, 10)
        after = time.time()
        end = after + 100.0
        # No ping in (ping, end]: the stall still running counts up to `end`.
        gap = listener.longest_gap(start, end)
        assert end - after <= gap <= end - start
        assert listener.longest_gap(end, end + 5) == pytest.approx(5.0)  # nothing in the window
        assert listener.ready_after(start) is None
        notifier.ready("reload FAILED (x); running previous config")
        status = wait_for(lambda: listener.ready_after(start), 10)
        assert status is not None and "STATUS=reload FAILED" in status
        assert listener.count() == 1  # READY=1 is not a ping
        notifier.close()
    finally:
        listener.close()
    assert not (tmp_path / "notify.sock").exists()


def test_longest_gap_is_the_widest_interval_between_pings(tmp_path: Path) -> None:
    listener = WatchdogListener(tmp_path / "notify.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            for _ in range(3):
                s.sendto(b"WATCHDOG=1", str(tmp_path / "notify.sock"))
        assert wait_for(lambda: listener.count() == 3, 10)
        pings = listener.pings()
        first, last = pings[0], pings[-1]
        widest = max(b - a for a, b in itertools.pairwise(pings))
        assert listener.longest_gap(first, last) == widest
        assert listener.longest_gap(first - 50, last) == pytest.approx(50.0)
    finally:
        listener.close()


def test_metric_sums_the_samples_with_the_labels_asked() -> None:
    text = (
        "# TYPE alerter_events counter\n"
        'alerter_events_total{collector="a"} 3.0\n'
        'alerter_events_total{collector="b"} 4.0\n'
        "# TYPE alerter_bus_length gauge\n"
        "alerter_bus_length 7.0\n"
    )
    assert metric(text, "alerter_events_total") == 7.0
    assert metric(text, "alerter_events_total", collector="b") == 4.0
    assert metric(text, "alerter_events_total", collector="c") == 0.0
    assert metric(text, "alerter_bus_length") == 7.0


def test_log_file_counts_lines_and_rotates(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "syslog.log")
    line = syslog_line("session key=1")
    assert line.endswith(" hostile app[4242]: session key=1\n")
    log.write(line * 2, 2)
    log.rotate()
    log.write(line, 1)
    assert log.lines == 3
    assert (tmp_path / "syslog.log.1").read_text() == line * 2
    assert (tmp_path / "syslog.log").read_text() == line


def test_raw_servers_answer_as_their_handlers_say() -> None:
    servers = [RawServer(ok, "/hook"), RawServer(too_many, "/hook"), RawServer(hung, "/")]
    try:
        assert requests.post(servers[0].url, data=b"{}", timeout=5).status_code == 200
        r = requests.post(servers[1].url, data=b"{}", timeout=5)
        assert (r.status_code, r.headers["Retry-After"]) == (429, "999999")
        try:
            requests.get(servers[2].url, timeout=0.5)
            raise AssertionError("a hung target answered")
        except requests.Timeout:
            pass
        assert wait_for(lambda: servers[2].stats.longest() > 0.4, 10)
        assert [s.stats.calls for s in servers] == [1, 1, 1]
    finally:
        for s in servers:
            s.close()
