"""The daemon's own HTTP endpoints on fake parts: health, readiness, metrics, and the token the
mutating ones need."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.alerter.daemon_fakes import Harness


def test_health_ready_metrics_endpoints(harness: Harness) -> None:
    assert requests.get(harness.url("/-/healthy"), timeout=5).status_code == 200
    assert requests.get(harness.url("/-/ready"), timeout=5).status_code == 200
    body = requests.get(harness.url("/metrics"), timeout=5).text
    assert "alerter_config_last_reload_successful 1.0" in body
    assert 'alerter_build_info{version="' in body
    assert requests.get(harness.url("/nope"), timeout=5).status_code == 404
    assert requests.get(harness.url("/-/reload"), timeout=5).status_code == 405


def test_mutating_endpoints_need_the_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    h = Harness(tmp_path, server=f", token_file: {tmp_path}/token")
    h.thread.start()
    assert h.daemon.ready.wait(10)
    try:
        assert requests.post(h.url("/-/reload"), timeout=30).status_code == 401
        wrong = {"Authorization": "Bearer wrong"}
        assert requests.post(h.url("/-/reload"), headers=wrong, timeout=30).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        assert requests.post(h.url("/-/reload"), headers=right, timeout=30).status_code == 200
        assert requests.get(h.url("/-/healthy"), timeout=5).status_code == 200  # reads stay open
    finally:
        h.daemon.request_stop()
        h.thread.join(10)
