"""`harness`: the daemon on fake parts (tests/alerter/daemon_fakes.py), running and ready."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerter.daemon_fakes import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    h.thread.start()
    assert h.daemon.ready.wait(10)
    yield h
    h.daemon.request_stop()
    h.thread.join(10)
    h.notify_sock.close()
