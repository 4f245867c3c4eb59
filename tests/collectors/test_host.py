"""The host collector on this host: CPU, memory, load, processes and filesystems in base units,
a real first CPU reading; systemd unit states and restarts from `systemctl show`, in a real
systemd."""

from __future__ import annotations

import math
from typing import Any

import pytest

from alerter.collectors.host import HostCollector, HostConfig, parse_show
from alerter.testing import RecordingStats
from tests.collectors.conftest import NOW, by_name, value


def test_host_metrics_in_base_units_and_cpu_has_a_real_first_reading() -> None:
    c = HostCollector(HostConfig("host", systemd=False), RecordingStats())
    import time

    start = time.process_time()
    while time.process_time() < start + 0.1:  # some busy CPU time before the first reading
        pass
    samples = c.collect(NOW)
    names = by_name(samples)
    total = value(samples, "host_cpu_usage_ratio", cpu="total")
    assert 0.0 < total <= 1.0  # not psutil's first-call 0.0
    assert (
        value(samples, "host_memory_total_bytes")
        > value(samples, "host_memory_available_bytes")
        > 0
    )
    assert 0.0 <= value(samples, "host_memory_usage_ratio") <= 1.0
    assert {
        "host_load1",
        "host_load5",
        "host_load15",
        "host_processes",
        "host_swap_usage_ratio",
    } <= set(names)
    root = [s for s in names["host_filesystem_used_ratio"] if s.labels["mountpoint"] == "/"]
    assert root and 0.0 <= root[0].value <= 1.0
    assert not any(
        s.labels["fstype"] in ("proc", "sysfs", "cgroup2")
        for s in names["host_filesystem_size_bytes"]
    )
    assert all(math.isfinite(s.value) and s.source == "host" for s in samples)
    assert "host_systemd_unit_active" not in names


def test_systemctl_show_blocks_are_parsed() -> None:
    text = "Id=a.service\nActiveState=active\nNRestarts=2\n\nId=b.service\nActiveState=failed\nNRestarts=0\n"
    assert parse_show(text) == [
        {"Id": "a.service", "ActiveState": "active", "NRestarts": "2"},
        {"Id": "b.service", "ActiveState": "failed", "NRestarts": "0"},
    ]


@pytest.mark.integration
def test_systemd_unit_states_and_restarts_in_a_real_systemd(systemd_sandbox: Any) -> None:
    sb = systemd_sandbox
    sb.write_unit("hc-up.service", "[Service]\nExecStart=/bin/sleep 300\n")
    sb.write_unit("hc-down.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
    sb.systemctl("start", "hc-up.service")
    sb.systemctl("start", "hc-down.service", check=False)
    c = HostCollector(
        HostConfig("host", systemd=True, systemctl=sb.command("systemctl")),
        RecordingStats(),
    )
    samples = c.collect(NOW)
    assert value(samples, "host_systemd_unit_active", unit="hc-up.service") == 1.0
    assert value(samples, "host_systemd_unit_active", unit="hc-down.service") == 0.0
    assert value(samples, "host_systemd_unit_restarts_total", unit="hc-up.service") == 0.0
    only = HostCollector(
        HostConfig(
            "host",
            systemd=True,
            units=("hc-up.service",),
            systemctl=sb.command("systemctl"),
        ),
        RecordingStats(),
    ).collect(NOW)
    assert [s.labels["unit"] for s in only if s.name == "host_systemd_unit_active"] == [
        "hc-up.service"
    ]
