"""`alerter routes show|test` and `alerter notify test`, run as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CONFIG = """
notifiers:
  - {name: default, type: console}
  - {name: team-db, type: console}
  - {name: pager, type: console}
  - {name: hook, type: webhook, url: "http://127.0.0.1:%d/hook"}
route:
  receiver: default
  routes:
    - matchers: ['team="db"']
      receiver: team-db
      continue: true
      routes:
        - matchers: ['severity="critical"']
          receiver: pager
    - matchers: ['team=~"db|web"']
      receiver: hook
"""


def alerter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alerter", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(500 if self.path == "/fail" else 200)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], got
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def cfg(tmp_path: Path, receiver: tuple[int, list[dict[str, Any]]]) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(CONFIG % receiver[0])
    return p


@pytest.mark.parametrize(
    ("labels", "want"),
    [
        (["team=db"], "team-db,hook"),  # continue: the next sibling is tried too
        (["team=db", 'severity="critical"'], "pager,hook"),  # the deepest match wins
        (["team=web"], "hook"),
        (["team=ops"], "default"),  # nothing below matches: the root takes it
    ],
)
def test_routes_test_prints_the_receivers_like_amtool(
    cfg: Path, labels: list[str], want: str
) -> None:
    out = alerter("routes", "test", "-c", str(cfg), *labels)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == want


def test_verify_receivers_fails_on_a_difference(cfg: Path) -> None:
    ok = alerter("routes", "test", "-c", str(cfg), "--verify-receivers", "hook", "team=web")
    bad = alerter("routes", "test", "-c", str(cfg), "--verify-receivers", "pager", "team=web")
    assert ok.returncode == 0 and bad.returncode == 1
    assert "expected receivers pager, got hook" in bad.stderr


def test_the_tree_marks_the_matching_routes(cfg: Path) -> None:
    out = alerter("routes", "test", "-c", str(cfg), "--tree", "team=db", "severity=critical")
    lines = out.stdout.splitlines()
    assert lines[0] == "Routing tree:"
    assert lines[1] == "└── default-route  receiver: default"
    assert lines[2] == '    ├── {team="db"}  receiver: team-db  continue: true'
    assert lines[3] == '    │   └── * {severity="critical"}  receiver: pager'
    assert lines[4] == '    └── * {team=~"db|web"}  receiver: hook'
    assert lines[5] == "pager,hook"
    shown = alerter("routes", "show", "-c", str(cfg)).stdout.splitlines()
    assert shown[:2] == lines[:2] and not any("* " in x for x in shown)


def test_a_bad_label_argument_says_what_to_write(cfg: Path) -> None:
    out = alerter("routes", "test", "-c", str(cfg), "team")
    assert out.returncode == 2 and "'team': expected LABEL=VALUE" in out.stderr


def test_notify_test_sends_one_synthetic_alert(
    cfg: Path, receiver: tuple[int, list[dict[str, Any]]]
) -> None:
    out = alerter("notify", "test", "-c", str(cfg), "hook")
    assert out.returncode == 0, out.stderr
    assert "sent a test alert to hook (webhook)" in out.stdout
    (payload,) = receiver[1]
    assert payload["status"] == "firing"
    (a,) = payload["alerts"]
    assert a["labels"]["alertname"] == "AlerterTestNotification"


def test_notify_test_reports_a_failing_receiver_and_an_unknown_name(
    cfg: Path, receiver: tuple[int, list[dict[str, Any]]]
) -> None:
    cfg.write_text(cfg.read_text().replace("/hook", "/fail"))
    out = alerter("notify", "test", "-c", str(cfg), "hook")
    assert out.returncode == 1 and "hook (webhook) FAILED" in out.stderr and "500" in out.stderr
    out = alerter("notify", "test", "-c", str(cfg), "nope")
    assert out.returncode == 2 and "no receiver named 'nope'" in out.stderr


def test_notify_test_says_a_receiver_refused_the_connection(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: refused
        cfg.write_text(CONFIG % s.getsockname()[1])
        out = alerter("notify", "test", "-c", str(cfg), "hook")
    assert out.returncode == 1
    assert out.stderr.endswith(": connection refused\n"), out.stderr  # (was "ConnectionError")
