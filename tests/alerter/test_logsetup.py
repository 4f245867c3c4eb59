"""Logging: JSON lines off a TTY with level and UTC timestamp; level filtering."""

from __future__ import annotations

import io
import json

import structlog

from alerter.runtime.logsetup import configure_logging


def test_json_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    configure_logging(None, "info", stream=out)
    structlog.get_logger("t").info("alert_fired", alertname="X")
    structlog.get_logger("t").debug("hidden")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["event"] == "alert_fired"
    assert rec["alertname"] == "X"
    assert rec["level"] == "info"
    assert rec["timestamp"].endswith("Z")


def test_console_format_on_request() -> None:
    out = io.StringIO()
    configure_logging("console", "debug", stream=out)
    structlog.get_logger("t").debug("collector_started", collector="auth")
    text = out.getvalue()
    assert "collector_started" in text and "collector=auth" in text
    configure_logging("json", "info", stream=io.StringIO())
