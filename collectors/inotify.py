"""inotify as a wake-up hint for the file collector (Linux; plain polling elsewhere).

The collector polls every `poll_interval` regardless, and stat polling stays the truth: inotify
loses events when its queue overflows and misses files it was not told about. It only shortens
the wait, so a written line is read within milliseconds instead of up to a poll interval.
The followed files are watched through `/proc/self/fd/N`, i.e. by inode, so a file keeps its
watch after it was renamed or deleted; their directories are watched for files appearing.
No pyinotify (unmaintained): three libc calls through ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
from collections.abc import Iterable

import structlog

log = structlog.get_logger(__name__)

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
FILE_EVENTS = IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
DIR_EVENTS = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE


class ChangeWaiter:
    """`wait(timeout)` returns True early when a watched file or directory changed."""

    def __init__(self) -> None:
        self._fd = -1
        self._watches: dict[str, int] = {}  # key (file key or directory path) -> watch descriptor
        try:
            self._libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd >= 0:
            self._fd = fd
        else:
            log.info("inotify_unavailable", error=os.strerror(ctypes.get_errno()))

    @property
    def available(self) -> bool:
        return self._fd >= 0

    def sync(self, files: dict[str, int], dirs: Iterable[str]) -> None:
        """Watch exactly these open files ({key: fd}) and directories."""
        if self._fd < 0:
            return
        wanted = {f"file:{k}:{fd}": (f"/proc/self/fd/{fd}", FILE_EVENTS) for k, fd in files.items()}
        wanted.update({f"dir:{d}": (d, DIR_EVENTS) for d in dirs})
        for key in list(self._watches.keys() - wanted.keys()):
            self._libc.inotify_rm_watch(self._fd, self._watches.pop(key))  # may be gone already
        for key, (path, mask) in wanted.items():
            if key in self._watches:
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), mask)
            if wd >= 0:
                self._watches[key] = wd
            elif ctypes.get_errno() == errno.ENOSPC:
                log.warning("inotify_watch_limit", path=path)  # polling still covers it

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True when something changed (events are discarded)."""
        if self._fd < 0:
            return False
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout)
        except (OSError, ValueError):
            return False
        if not ready:
            return False
        while True:
            try:
                if not os.read(self._fd, 65536):
                    break
            except BlockingIOError:
                break
            except OSError:
                break
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._watches.clear()
