"""The v2 subset's bodies field for field against a real Alertmanager 0.25 holding the same
kind of alert and silence: status, alerts, alert groups, silences, one silence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.alerter.api import daemon_fixture
from tests.alerter.api.daemon_fixture import TOKEN, Running
from tests.alerter.api.test_prometheus_shapes import shape
from tests.alerter.notifiers.test_alertmanager_real import alertmanager  # noqa: F401 (fixture)
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration

SILENCE = {
    "matchers": [{"name": "code", "value": "404", "isRegex": False, "isEqual": True}],
    "startsAt": "2020-01-01T00:00:00Z",
    "endsAt": "2100-01-01T00:00:00Z",
    "createdBy": "ops",
    "comment": "known",
}


@pytest.fixture
def running(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[Running]:
    (tmp_path / "alerter").mkdir()
    yield from daemon_fixture.start(tmp_path / "alerter", http_receiver.url)


def bodies(url: str, headers: dict[str, str]) -> dict[str, Any]:
    def get(path: str) -> Any:
        r = requests.get(url + path, headers=headers, timeout=5)
        assert r.status_code == 200, (path, r.text)
        return r.json()

    sid = requests.post(f"{url}/api/v2/silences", json=SILENCE, headers=headers, timeout=5).json()[
        "silenceID"
    ]
    wait_for(lambda: get("/api/v2/alerts")[0]["status"]["silencedBy"], timeout=10)
    return {
        "status": get("/api/v2/status"),
        "alerts": get("/api/v2/alerts"),
        "groups": get("/api/v2/alerts/groups"),
        "silences": get("/api/v2/silences"),
        "silence": get(f"/api/v2/silence/{sid}"),
    }


def test_v2_bodies_have_alertmanagers_fields_and_types(
    alertmanager: str,  # noqa: F811
    running: Running,
) -> None:
    labels = {"alertname": "AppErrors", "code": "404", "severity": "warning"}
    r = requests.post(
        f"{alertmanager}/api/v2/alerts",
        json=[{"labels": labels, "annotations": {"summary": "s"}, "generatorURL": "http://x/"}],
        timeout=5,
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json(), timeout=10)
    theirs = bodies(alertmanager, {})

    running.write("ERROR 404")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    wait_for(lambda: requests.get(f"{running.url}/api/v2/alerts", timeout=5).json(), timeout=20)
    ours = bodies(running.url, auth)

    for key in ("status", "alerts", "groups", "silences", "silence"):
        assert shape(ours[key]) == shape(theirs[key]), key
    (a,), (b,) = ours["alerts"], theirs["alerts"]
    assert a["status"]["state"] == b["status"]["state"] == "suppressed"
    assert ours["status"]["cluster"]["status"] == theirs["status"]["cluster"]["status"]
    assert ours["status"]["versionInfo"]["version"] == theirs["status"]["versionInfo"]["version"]
