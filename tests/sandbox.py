"""A private systemd + journald for integration tests: PID 1 of its own PID and mount namespace.

`start()` boots the host's systemd under
`unshare --fork --pid --mount --mount-proc --propagation private --uts` (plus a private /dev, a
fresh tmpfs on /run, a read-only /proc/sys, a volatile journal and the boot units that would touch
the host masked) and returns once `systemctl is-system-running` says it is up. `Sandbox.run()`
runs a command inside it (nsenter); `Sandbox.command()` gives that prefix to code under test
(`SystemctlController(prefix=sb.command("systemctl"))`); `Sandbox.stop()` powers it off.

/etc, /usr, /tmp and the checkout are the host's, so a unit written to /run/systemd/system inside
can run this checkout's programs and use the test's temporary folders. Sandboxes share the host's
cgroup tree: two at once need distinct unit names.

Nothing outlives the test process: `stop()` is called by the fixture's finalizer (also on a
failed test and on Ctrl-C); an atexit hook and SIGTERM/SIGHUP handlers kill every sandbox still
running, by the host PID of its PID 1 (the kernel then ends everything in the namespace and its
mounts with it); and if this process is killed outright, the kernel ends `unshare` (setpriv
--pdeathsig) and `unshare` its child (--kill-child).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

INSTALL_HINT = "run tests/system-deps.sh as root"
SYSTEMD_PATHS = ("/lib/systemd/systemd", "/usr/lib/systemd/systemd")
TOOLS = ("unshare", "nsenter", "setpriv")
BOOT_TIMEOUT = 60.0
# A poweroff takes well under a second. A process that entered the sandbox's PID namespace
# through nsenter and was killed with it (a collector's `journalctl -f`) is left a zombie
# whose parent, nsenter, is gone: only the host's init can reap it, and this container's does
# not, so the sandbox's systemd waits for it until this timeout, then is killed (the sandbox is
# thrown away either way).
STOP_TIMEOUT = 3.0

# Boot units that would change the host (clock, sysctls, modules, swap, wtmp, users, /var, /tmp
# clean-up, timers such as apt-daily and logrotate) or that need real hardware.
MASKED = (
    "getty.target",
    "console-getty.service",
    "serial-getty@.service",
    "timers.target",
    "swap.target",
    "tmp.mount",
    "remote-fs.target",
    "cryptsetup.target",
    "integritysetup.target",
    "veritysetup.target",
    "systemd-timesyncd.service",
    "systemd-time-wait-sync.service",
    "systemd-sysctl.service",
    "systemd-modules-load.service",
    "kmod-static-nodes.service",
    "systemd-remount-fs.service",
    "systemd-fsck-root.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
    "sys-kernel-config.mount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.timer",
    "systemd-tmpfiles-clean.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-hwdb-update.service",
    "systemd-firstboot.service",
    "systemd-random-seed.service",
    "systemd-pstore.service",
    "systemd-machine-id-commit.service",
    "systemd-journal-flush.service",
    "systemd-journal-catalog-update.service",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    "systemd-update-done.service",
    "systemd-sysusers.service",
    "systemd-repart.service",
    "systemd-pcrphase.service",
    "systemd-pcrphase-sysinit.service",
    "systemd-boot-update.service",
    "systemd-ask-password-console.path",
    "systemd-ask-password-wall.path",
    "ldconfig.service",
    "e2scrub_reap.service",
)

# sh -c BOOT sandbox-boot UNIT...: runs as PID 1 of the new namespaces, then becomes systemd.
BOOT = r"""
set -eu
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
# /dev: the host's device nodes that services use, without letting systemd add /dev/log,
# /dev/initctl and friends to the host's /dev.
d=/run/sandbox-dev
mkdir "$d"
mount -t tmpfs -o mode=755,nosuid tmpfs "$d"
for n in null zero full random urandom tty; do
  touch "$d/$n"
  mount --bind "/dev/$n" "$d/$n"
done
touch "$d/console"
mount --bind /dev/null "$d/console"
mkdir "$d/pts" "$d/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$d/pts"
ln -s pts/ptmx "$d/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/shm"
ln -s /proc/self/fd "$d/fd"
ln -s /proc/self/fd/0 "$d/stdin"
ln -s /proc/self/fd/1 "$d/stdout"
ln -s /proc/self/fd/2 "$d/stderr"
mount --move "$d" /dev
rmdir "$d"
# sysctls are the host's: systemd may read them, not raise them.
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
# The journal lives in /run (volatile); an existing /var/log/journal is hidden, not written.
if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=2755 tmpfs /var/log/journal; fi
mkdir -p /run/systemd/system/systemd-tmpfiles-setup.service.d /run/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\n' >/run/systemd/journald.conf.d/sandbox.conf
# tmpfiles.d may create and clean only under the private /run.
printf '[Service]\nExecStart=\nExecStart=systemd-tmpfiles --create --remove --boot --prefix=/run\n' \
  >/run/systemd/system/systemd-tmpfiles-setup.service.d/sandbox.conf
for u in "$@"; do ln -sf /dev/null "/run/systemd/system/$u"; done
exec "$SANDBOX_SYSTEMD" --system --unit=basic.target --log-target=console --log-level=warning
"""


class SandboxError(RuntimeError):
    """The sandbox could not be started; the message says why and shows its boot log."""


def systemd_path() -> str | None:
    return next((p for p in SYSTEMD_PATHS if os.access(p, os.X_OK)), None)


_probe: list[str | None] = []


def unavailable() -> str | None:
    """Why no sandbox can run here (one reason), or None when it can."""
    if not sys.platform.startswith("linux"):
        return "the systemd sandbox needs Linux"
    if os.geteuid() != 0:
        return "needs root for the systemd sandbox"
    if systemd_path() is None:
        return f"systemd not installed: {INSTALL_HINT}"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (util-linux): {INSTALL_HINT}"
    if not _probe:
        out = subprocess.run(
            ["unshare", "--fork", "--pid", "--mount", "--uts", "--mount-proc", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        why = out.stderr.strip().splitlines()[-1:] if out.returncode else None
        _probe.append(f"cannot create PID and mount namespaces here: {why[0]}" if why else None)
    return _probe[0]


@dataclass
class _Live:
    proc: subprocess.Popen[bytes]
    pid: int  # host PID of the namespace's PID 1 (0 until known)
    started: str  # its start time in /proc/PID/stat, so a reused PID is never signalled
    log: IO[bytes]  # unnamed temporary file: nothing on disk to leave behind


_live: dict[int, _Live] = {}  # by the PID of the unshare process
_lock = threading.Lock()
_previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
_installed: list[bool] = []


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _kill(live: _Live) -> None:
    """SIGKILL the namespace's PID 1, or unshare before PID 1 is known.

    The kernel then ends every process in the namespace before PID 1 itself is reaped, so once
    `unshare` has exited (it waits for PID 1) nothing of the sandbox is left.
    """
    if live.pid:
        pid, alive = live.pid, _start_time(live.pid) == live.started
    else:
        pid, alive = live.proc.pid, live.proc.poll() is None
    if alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_all() -> None:
    """End every sandbox still running, at once (atexit and signal handlers)."""
    for live in list(_live.values()):
        _kill(live)
    for key, live in list(_live.items()):
        with contextlib.suppress(subprocess.TimeoutExpired):
            live.proc.wait(timeout=5)
        live.log.close()
        _live.pop(key, None)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    kill_all()
    previous = _previous.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_cleanup() -> None:
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed.append(True)
    atexit.register(kill_all)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN:
            continue
        _previous[signum] = current
        signal.signal(signum, _on_signal)


def _child(pid: int) -> int:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    return int(kids[0]) if kids else 0


def _tail(log: IO[bytes], lines: int = 30) -> str:
    log.seek(0)
    text = log.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


class Sandbox:
    """A running sandbox; `pid` is the host PID of its PID 1 (systemd)."""

    def __init__(self, live: _Live) -> None:
        self._live = live

    @property
    def pid(self) -> int:
        return self._live.pid

    def command(self, *cmd: str) -> tuple[str, ...]:
        """argv that runs cmd inside the sandbox (its PID and mount namespaces)."""
        return ("nsenter", "-t", str(self.pid), "-p", "-m", "-u", *cmd)

    def run(
        self, *cmd: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*cmd),
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            input=input,
        )

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", *args, check=check)

    def show(self, unit: str, prop: str) -> str:
        return self.systemctl("show", "-p", prop, "--value", unit).stdout.strip()

    def write_unit(self, name: str, text: str) -> None:
        self.run("sh", "-c", f"cat > /run/systemd/system/{name}", input=text)
        self.systemctl("daemon-reload")

    @property
    def running(self) -> bool:
        return self._live.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Power it off and wait until it is gone; kill it if it takes longer than timeout."""
        live = self._live
        with _lock:
            if _live.get(live.proc.pid) is not live:
                return
        try:
            if live.pid and live.proc.poll() is None:
                subprocess.run(
                    self.command("systemctl", "poweroff", "--no-block"),
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
                live.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _kill(live)
            live.proc.wait()
            live.log.close()
            with _lock:
                _live.pop(live.proc.pid, None)


def start(timeout: float = BOOT_TIMEOUT) -> Sandbox:
    """Boot a sandbox and return it once systemd is running (or degraded); SandboxError if not."""
    why = unavailable()
    if why:
        raise SandboxError(why)
    systemd = systemd_path()
    assert systemd is not None
    _install_cleanup()
    # closed by stop() or kill_all(), not here: it holds systemd's output until then
    log = tempfile.TemporaryFile(prefix="alerter-sandbox.")  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            [
                "setpriv",
                "--pdeathsig=KILL",
                "unshare",
                "--kill-child=SIGKILL",
                "--fork",
                "--pid",
                "--mount",
                "--uts",
                "--mount-proc",
                "--propagation",
                "private",
                "sh",
                "-c",
                BOOT,
                "sandbox-boot",
                *MASKED,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C on the terminal reaches pytest, not the sandbox
            env={
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8",
                "SANDBOX_SYSTEMD": systemd,
            },
        )
    except BaseException:
        log.close()
        raise
    live = _Live(proc, 0, "", log)
    with _lock:
        _live[proc.pid] = live
    sb = Sandbox(live)
    try:
        state = _wait_running(sb, systemd, time.monotonic() + timeout)
    except BaseException:
        sb.stop(timeout=1)
        raise
    if state in ("running", "degraded"):
        return sb
    boot_log = _tail(live.log)
    sb.stop(timeout=1)
    raise SandboxError(
        f"systemd did not come up within {timeout:.0f}s (last state: {state}); its output:\n"
        f"{boot_log}"
    )


def _wait_running(sb: Sandbox, systemd: str, deadline: float) -> str:
    """Poll until systemd in the sandbox reports its state; the last state seen."""
    live, state = sb._live, "not started"
    while time.monotonic() < deadline and live.proc.poll() is None:
        if not live.pid:
            pid = _child(live.proc.pid)
            if pid and Path(f"/proc/{pid}/exe").resolve() == Path(systemd).resolve():
                live.started, live.pid = _start_time(pid), pid
        if live.pid:
            try:
                out = sb.run(
                    "systemctl",
                    "is-system-running",
                    "--wait",
                    check=False,
                    timeout=max(1.0, deadline - time.monotonic()),
                )
            except subprocess.TimeoutExpired:
                return f"{state}, then no answer"
            state = out.stdout.strip() or out.stderr.strip() or state
            if state in ("running", "degraded"):
                return state
        time.sleep(0.05)  # systemd has not opened its socket yet
    return state if live.proc.poll() is None else f"{state}, then exited {live.proc.returncode}"
