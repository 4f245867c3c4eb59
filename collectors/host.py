"""Host metrics with psutil, named like node_exporter's and in base units (bytes, seconds, ratios).

    host_cpu_usage_ratio{cpu="total"|"0"...}      busy share since the previous reading
    host_memory_{available,total}_bytes, host_memory_usage_ratio
    host_swap_{total,used}_bytes, host_swap_usage_ratio
    host_load1, host_load5, host_load15
    host_filesystem_{size,avail}_bytes{mountpoint,device,fstype}, host_filesystem_used_ratio
    host_disk_{read,written}_bytes_total{device}, host_disk_io_time_seconds_total{device}
    host_network_{receive,transmit}_{bytes,errors,drop}_total{device}
    host_processes, host_boot_time_seconds
    host_systemd_unit_active{unit}, host_systemd_unit_restarts_total{unit}   (where systemd runs)

CPU usage is a difference of counters: the collector reads them once when built, so its first
collection already covers a real interval (psutil's own first call would say 0.0).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Protocol

import psutil
import structlog

from alerter.collectors.base import CollectorStats
from alerter.core.events import Sample

log = structlog.get_logger(__name__)

# node_exporter's defaults (minus overlay, which is the root filesystem of a container).
PSEUDO_FSTYPES = frozenset(
    [
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "fusectl",
        "hugetlbfs",
        "iso9660",
        "mqueue",
        "nsfs",
        "proc",
        "procfs",
        "pstore",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "squashfs",
        "sysfs",
        "tracefs",
        "ramfs",
        "efivarfs",
    ]
)
_SKIP_MOUNTS = re.compile(r"^/(dev|proc|sys|run/credentials/.+|var/lib/docker/.+|snap/.+)($|/)")
_SKIP_DISKS = re.compile(r"^(loop|ram|zram|fd|sr)\d*$")


class _Add(Protocol):
    def __call__(self, name: str, value: float, **labels: str) -> None: ...


@dataclass(frozen=True, slots=True)
class HostConfig:
    name: str
    interval: float = 15.0
    systemd: bool | None = None  # None: when PID 1 is systemd
    units: tuple[str, ...] = ()  # systemd units to report; () = every loaded service
    systemctl: tuple[str, ...] = ("systemctl",)  # argv prefix (tests: a sandbox's systemctl)
    timeout: float = 10.0


def systemd_running() -> bool:
    """sd_booted(3): the system was booted with systemd."""
    return os.path.isdir("/run/systemd/system")


class HostCollector:
    def __init__(self, cfg: HostConfig, stats: CollectorStats) -> None:
        self.name = cfg.name
        self.interval = cfg.interval
        self.cfg = cfg
        self._stats = stats
        self._systemd = systemd_running() if cfg.systemd is None else cfg.systemd
        self._cpu_prev = self._cpu_times()
        self._log = log.bind(collector=cfg.name)

    def collect(self, now: float) -> list[Sample]:
        out: list[Sample] = []

        def add(name: str, value: float, **labels: str) -> None:
            out.append(Sample(now, self.name, name, labels, float(value)))

        for part in (self._cpu, self._memory, self._filesystems, self._disks, self._network):
            try:
                part(add)
            except Exception:  # one failing reading must not cost the others
                self._log.exception("host_reading_failed", reading=part.__name__)
        add("host_processes", len(psutil.pids()))
        add("host_boot_time_seconds", psutil.boot_time())
        if self._systemd:
            out.extend(self._units(now))
        self._stats.up(self.name, True)
        return out

    @staticmethod
    def _cpu_times() -> list[tuple[float, float]]:
        """(busy, total) seconds for the whole machine then each cpu."""
        times = [psutil.cpu_times(), *psutil.cpu_times(percpu=True)]
        out = []
        for t in times:
            total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
            idle = t.idle + getattr(t, "iowait", 0.0)
            out.append((total - idle, total))
        return out

    def _cpu(self, add: _Add) -> None:
        cur = self._cpu_times()
        prev, self._cpu_prev = self._cpu_prev, cur
        for i, ((b1, t1), (b0, t0)) in enumerate(zip(cur, prev, strict=False)):
            dt = t1 - t0
            if dt <= 0:
                continue
            ratio = min(1.0, max(0.0, (b1 - b0) / dt))
            add("host_cpu_usage_ratio", ratio, cpu="total" if i == 0 else str(i - 1))
        load1, load5, load15 = psutil.getloadavg()
        add("host_load1", load1)
        add("host_load5", load5)
        add("host_load15", load15)

    def _memory(self, add: _Add) -> None:
        vm = psutil.virtual_memory()
        add("host_memory_available_bytes", vm.available)
        add("host_memory_total_bytes", vm.total)
        add("host_memory_usage_ratio", 1 - vm.available / vm.total if vm.total else 0.0)
        sw = psutil.swap_memory()
        add("host_swap_total_bytes", sw.total)
        add("host_swap_used_bytes", sw.used)
        add("host_swap_usage_ratio", sw.used / sw.total if sw.total else 0.0)

    def _filesystems(self, add: _Add) -> None:
        seen = set()
        for p in psutil.disk_partitions(all=True):
            if (
                p.fstype in PSEUDO_FSTYPES
                or _SKIP_MOUNTS.match(p.mountpoint)
                or p.mountpoint in seen
            ):
                continue
            if p.fstype in ("tmpfs", "overlay") and p.mountpoint != "/":
                continue
            seen.add(p.mountpoint)
            try:
                u = psutil.disk_usage(p.mountpoint)
            except OSError:
                continue
            labels = {"mountpoint": p.mountpoint, "device": p.device, "fstype": p.fstype}
            add("host_filesystem_size_bytes", u.total, **labels)
            add("host_filesystem_avail_bytes", u.free, **labels)
            add(
                "host_filesystem_used_ratio",
                u.used / (u.used + u.free) if u.used + u.free else 0.0,
                **labels,
            )

    def _disks(self, add: _Add) -> None:
        for dev, c in (psutil.disk_io_counters(perdisk=True) or {}).items():
            if _SKIP_DISKS.match(dev):
                continue
            add("host_disk_read_bytes_total", c.read_bytes, device=dev)
            add("host_disk_written_bytes_total", c.write_bytes, device=dev)
            add("host_disk_reads_completed_total", c.read_count, device=dev)
            add("host_disk_writes_completed_total", c.write_count, device=dev)
            busy = getattr(c, "busy_time", None)
            if busy is not None:
                add("host_disk_io_time_seconds_total", busy / 1000.0, device=dev)

    def _network(self, add: _Add) -> None:
        for dev, c in psutil.net_io_counters(pernic=True).items():
            add("host_network_receive_bytes_total", c.bytes_recv, device=dev)
            add("host_network_transmit_bytes_total", c.bytes_sent, device=dev)
            add("host_network_receive_errors_total", c.errin, device=dev)
            add("host_network_transmit_errors_total", c.errout, device=dev)
            add("host_network_receive_drop_total", c.dropin, device=dev)
            add("host_network_transmit_drop_total", c.dropout, device=dev)

    # --- systemd ----------------------------------------------------------------------------

    def _systemctl(self, *args: str) -> str | None:
        argv = [*self.cfg.systemctl, *args]
        try:
            res = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.cfg.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            self._log.warning("systemctl_failed", error=str(e))
            return None
        if res.returncode != 0:
            self._log.warning(
                "systemctl_failed", code=res.returncode, stderr=res.stderr.strip()[:200]
            )
            return None
        return res.stdout

    def _units(self, now: float) -> list[Sample]:
        units = list(self.cfg.units)
        if not units:
            listing = self._systemctl(
                "list-units", "--type=service", "--all", "--no-legend", "--plain", "--no-pager"
            )
            if listing is None:
                return []
            units = [line.split()[0] for line in listing.splitlines() if line.strip()]
        if not units:
            return []
        shown = self._systemctl(
            "show", "--no-pager", "-p", "Id,ActiveState,NRestarts", "--", *units
        )
        if shown is None:
            return []
        out = []
        for props in parse_show(shown):
            unit = props.get("Id")
            if not unit:
                continue
            active = 1.0 if props.get("ActiveState") == "active" else 0.0
            out.append(Sample(now, self.name, "host_systemd_unit_active", {"unit": unit}, active))
            restarts = props.get("NRestarts", "")
            if restarts.isdigit():
                out.append(
                    Sample(
                        now,
                        self.name,
                        "host_systemd_unit_restarts_total",
                        {"unit": unit},
                        float(restarts),
                    )
                )
        return out


def parse_show(text: str) -> list[dict[str, str]]:
    """`systemctl show` output for several units: blocks of KEY=VALUE separated by blank lines."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        k, _, v = line.partition("=")
        cur[k] = v
    if cur:
        blocks.append(cur)
    return blocks
