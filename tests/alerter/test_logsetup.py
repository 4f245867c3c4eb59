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


def test_the_console_shows_a_log_lines_terminal_escapes_escaped() -> None:
    out = io.StringIO()
    configure_logging("console", "info", stream=out)
    log = structlog.get_logger("t")
    log.info("action_failed", target="a\x9b2Jb", detail="x\x1b]0;t\x07 y")
    try:
        raise ValueError("bad \x1b[2Jvalue")
    except ValueError:
        log.exception("engine_failed")
    text = out.getvalue()
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    assert "a\\x9b2Jb" in text and "bad \\x1b[2Jvalue" in text
    assert "Traceback (most recent call last):\n" in text  # its line breaks kept
    configure_logging("json", "info", stream=io.StringIO())
