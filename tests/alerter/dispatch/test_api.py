"""The silences and alerts API through the real HTTP server, and the CLI that talks to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from alerter.api.server import APIServer
from alerter.cli.main import main
from alerter.dispatch import NotificationDispatcher
from alerter.dispatch.api import routes
from alerter.rules.alert import Alert
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore

from .helpers import RecordingNotifier, alert, inhibit, make_dispatcher, route, tr

TOKEN = "s3cret-token"


class Api:
    def __init__(
        self, url: str, token_file: Path, d: NotificationDispatcher, alerts: list[Alert]
    ) -> None:
        self.url, self.token_file, self.d, self.alerts = url, token_file, d, alerts

    def cli(self, *argv: str) -> int:
        return main([*argv, "--url", self.url, "--token-file", str(self.token_file)])


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = StateStore(tmp_path / "state")
    rule = inhibit(
        "{source_matchers: ['alertname=\"HostDown\"'], target_matchers: ['severity=\"warning\"'], equal: [host]}"
    )
    d = make_dispatcher(
        store,
        SystemClock(),
        route("{receiver: rec}"),
        {"rec": RecordingNotifier()},
        inhibit_rules=[rule],
    )
    alerts: list[Alert] = []
    server = APIServer("127.0.0.1", 0, CollectorRegistry(), TOKEN)
    server.add_routes(routes(d, lambda: list(alerts)))
    server.start()
    (tmp_path / "token").write_text(TOKEN + "\n")
    try:
        yield Api(f"http://127.0.0.1:{server.port}", tmp_path / "token", d, alerts)
    finally:
        server.stop()
        d.stop()
        store.close()


SILENCE = {
    "matchers": [{"name": "host", "value": "a", "isRegex": False, "isEqual": True}],
    "startsAt": "2020-01-01T00:00:00Z",
    "endsAt": "2100-01-01T00:00:00Z",
    "createdBy": "ops",
    "comment": "maintenance",
}


@pytest.mark.integration
def test_silence_lifecycle_over_http_needs_the_token_to_change_anything(api: Api) -> None:
    assert requests.post(f"{api.url}/api/v1/silences", json=SILENCE, timeout=5).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post(f"{api.url}/api/v1/silences", json=SILENCE, headers=auth, timeout=5)
    assert r.status_code == 200, r.text
    sid = r.json()["silenceID"]
    (s,) = requests.get(f"{api.url}/api/v1/silences", timeout=5).json()
    assert (s["id"], s["status"]["state"], s["createdBy"], s["comment"]) == (
        sid,
        "active",
        "ops",
        "maintenance",
    )
    assert s["matchers"] == SILENCE["matchers"]
    bad = requests.post(
        f"{api.url}/api/v1/silences", json={**SILENCE, "comment": ""}, headers=auth, timeout=5
    )
    assert bad.status_code == 400 and "comment" in bad.json()["error"]
    assert requests.delete(f"{api.url}/api/v1/silences/{sid}", timeout=5).status_code == 401
    assert (
        requests.delete(f"{api.url}/api/v1/silences/{sid}", headers=auth, timeout=5).status_code
        == 200
    )
    assert (
        requests.get(f"{api.url}/api/v1/silences/{sid}", timeout=5).json()["status"]["state"]
        == "expired"
    )
    assert (
        requests.delete(f"{api.url}/api/v1/silences/nope", headers=auth, timeout=5).status_code
        == 404
    )


@pytest.mark.integration
def test_alerts_show_silenced_and_inhibited_status(api: Api) -> None:
    down = alert(alertname="HostDown", host="b")
    api.d.handle([tr(down)], SystemClock().now())
    api.alerts.extend([alert(host="a"), alert(severity="warning", host="b"), down])
    requests.post(
        f"{api.url}/api/v1/silences",
        json=SILENCE,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).raise_for_status()
    got = requests.get(f"{api.url}/api/v1/alerts", timeout=5).json()
    by_host = {(a["labels"]["alertname"], a["labels"]["host"]): a for a in got}
    a, b, hd = by_host[("HighLoad", "a")], by_host[("HighLoad", "b")], by_host[("HostDown", "b")]
    assert set(a) >= {"labels", "annotations", "state", "activeAt", "value", "fingerprint"}
    assert (a["silenced"], a["inhibited"], a["status"]["state"]) == (True, False, "suppressed")
    assert (b["silenced"], b["inhibited"]) == (False, True)
    assert (hd["silenced"], hd["inhibited"], hd["status"]["state"]) == (False, False, "active")
    active = requests.get(
        f"{api.url}/api/v1/alerts?silenced=false&inhibited=false", timeout=5
    ).json()
    assert [x["labels"]["alertname"] for x in active] == ["HostDown"]
    filtered = requests.get(
        f"{api.url}/api/v1/alerts", params={"filter": 'host="a"'}, timeout=5
    ).json()
    assert len(filtered) == 1


@pytest.mark.integration
def test_cli_adds_lists_and_expires_silences(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        api.cli("silence", "add", 'alertname="HighLoad"', "host=~web.*", "-c", "deploy", "-d", "2h")
        == 0
    )
    sid = capsys.readouterr().out.strip()
    s = api.d.silences.get(sid)
    assert s is not None and [str(m) for m in s.matchers] == [
        'alertname="HighLoad"',
        'host=~"web.*"',
    ]
    assert abs((s.ends_at - s.starts_at) - 7200) < 5
    assert api.cli("silence", "ls", "-q") == 0
    assert capsys.readouterr().out.split() == [sid]
    assert api.cli("silence", "ls") == 0
    table = capsys.readouterr().out
    assert "deploy" in table and 'host=~"web.*"' in table
    assert api.cli("silence", "expire", sid) == 0
    assert api.cli("silence", "ls", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert api.cli("silence", "expire", "nope") == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.integration
def test_cli_lists_alerts(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    api.alerts.append(alert(host="a"))
    assert api.cli("alerts") == 0
    out = capsys.readouterr().out
    assert "HighLoad" in out and "host=a" in out and "firing" in out


@pytest.mark.integration
def test_a_silence_past_the_cap_is_refused_with_400_and_the_reason(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    api.d.silences.max_silences = 1
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = requests.post(f"{api.url}/api/v1/silences", json=SILENCE, headers=auth, timeout=5)
    assert first.status_code == 200, first.text
    r = requests.post(f"{api.url}/api/v1/silences", json=SILENCE, headers=auth, timeout=5)
    assert r.status_code == 400
    assert "maximum number of silences: 1 active or pending (limit: 1)" in r.json()["error"]
    update = {**SILENCE, "id": first.json()["silenceID"], "comment": "longer"}
    r = requests.post(f"{api.url}/api/v1/silences", json=update, headers=auth, timeout=5)
    assert r.status_code == 200 and r.json() == first.json()  # updated in place
    assert api.cli("silence", "add", "host=b", "-c", "deploy", "-d", "1h") == 1
    assert "HTTP 400: exceeded maximum number of silences" in capsys.readouterr().err
    assert len(requests.get(f"{api.url}/api/v1/silences", timeout=5).json()) == 1


NESTED = "((((((.*)*)*)*)*)*)*X"  # the sweep's input: exponential in a backtracking engine


@pytest.mark.integration
def test_a_catastrophic_regex_as_filter_or_silence_is_answered_in_linear_time(api: Api) -> None:
    """Issue 11: this filter froze the daemon (GET needs no token on loopback), and POSTed as a
    silence it froze it again after every restart. Matched against a 40-character value it
    would take longer than the test's timeout in Python's `re`; in RE2 it takes microseconds."""
    api.alerts.append(alert(host="a" * 40 + "!"))
    got = requests.get(
        f"{api.url}/api/v1/alerts", params={"filter": f"host=~{json.dumps(NESTED)}"}, timeout=30
    )
    assert got.status_code == 200 and got.json() == []
    silence = {**SILENCE, "matchers": [{"name": "host", "value": NESTED, "isRegex": True}]}
    r = requests.post(
        f"{api.url}/api/v1/silences",
        json=silence,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    (listed,) = requests.get(f"{api.url}/api/v1/alerts", timeout=30).json()
    assert listed["silenced"] is False  # matched, in linear time, and it does not match
    api.d.handle([tr(alert(host="b" * 40 + "!"))], SystemClock().now())  # through routing too
