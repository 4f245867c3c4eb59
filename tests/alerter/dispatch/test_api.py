"""The Alertmanager v2 silences and alerts API through the real HTTP server, and the CLI that
talks to it (tests/alerter/api/test_amtool.py runs the real amtool against the daemon)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry

from alerter.api import prometheus
from alerter.api.routes import Response, Route
from alerter.api.server import APIServer
from alerter.cli.main import main
from alerter.dispatch import NotificationDispatcher
from alerter.dispatch.api import routes
from alerter.dispatch.silences import silence_from_api
from alerter.rules.alert import Alert
from alerter.runtime.wiring import SystemClock
from alerter.store.db import StateStore
from alerter.testing import RecordingNotifier

from .helpers import alert, inhibit, make_dispatcher, route, tr

TOKEN = "s3cret-token"


class Api:
    def __init__(
        self, url: str, token_file: Path, d: NotificationDispatcher, alerts: list[Alert]
    ) -> None:
        self.url, self.token_file, self.d, self.alerts = url, token_file, d, alerts

    def cli(self, *argv: str) -> int:
        return main([*argv, "--url", self.url, "--token-file", str(self.token_file)])


def printed_json(out: str) -> Any:
    """The JSON the CLI printed: a log line of another test's thread may come with it."""
    lines = out.splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if ln.startswith(("[", "{")))
    return json.JSONDecoder().raw_decode("".join(lines[start:]))[0]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = StateStore(tmp_path / "state")
    rule = inhibit(
        "{source_matchers: ['alertname=\"HostDown\"'], target_matchers: ['severity=\"warning\"'], equal: [host]}"
    )
    d = make_dispatcher(
        store,
        SystemClock(),
        route("{receiver: rec, group_by: [alertname]}"),
        {"rec": RecordingNotifier()},
        inhibit_rules=[rule],
    )
    alerts: list[Alert] = []
    server = APIServer("127.0.0.1", 0, CollectorRegistry(), TOKEN)
    server.add_routes(routes(d, lambda: list(alerts)))
    body = lambda r: Response.json(prometheus.alerts_body(alerts))  # noqa: E731 (the daemon's)
    server.add_routes([Route("GET", "/api/v1/alerts", body)])
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
    assert requests.post(f"{api.url}/api/v2/silences", json=SILENCE, timeout=5).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post(f"{api.url}/api/v2/silences", json=SILENCE, headers=auth, timeout=5)
    assert r.status_code == 200, r.text
    sid = r.json()["silenceID"]
    (s,) = requests.get(f"{api.url}/api/v2/silences", timeout=5).json()
    assert (s["id"], s["status"]["state"], s["createdBy"], s["comment"]) == (
        sid,
        "active",
        "ops",
        "maintenance",
    )
    assert s["matchers"] == SILENCE["matchers"]
    bad = requests.post(
        f"{api.url}/api/v2/silences", json={**SILENCE, "comment": ""}, headers=auth, timeout=5
    )
    assert bad.status_code == 400 and "comment" in bad.json()  # a JSON string, as Alertmanager
    for matchers, said in [
        ([{"name": "job", "value": "x", "isRegex": "yes"}], "isRegex and isEqual are true or"),
        ([{"name": "1 bad", "value": "x"}], "'1 bad' is not a valid label name"),
        ("alertname=X", "matchers: expected a list"),
    ]:
        bad = requests.post(
            f"{api.url}/api/v2/silences", json={**SILENCE, "matchers": matchers}, headers=auth,
            timeout=5,
        )  # fmt: skip
        assert bad.status_code == 400 and said in bad.json(), bad.text
    assert requests.delete(f"{api.url}/api/v2/silence/{sid}", timeout=5).status_code == 401
    assert (
        requests.delete(f"{api.url}/api/v2/silence/{sid}", headers=auth, timeout=5).status_code
        == 200
    )
    assert (
        requests.get(f"{api.url}/api/v2/silence/{sid}", timeout=5).json()["status"]["state"]
        == "expired"
    )
    assert requests.get(f"{api.url}/api/v2/silence/nope", timeout=5).status_code == 404
    # Alertmanager 0.25's spec lists 200 and 500 for DELETE (amtool fails on anything else)
    gone = requests.delete(f"{api.url}/api/v2/silence/nope", headers=auth, timeout=5)
    assert (gone.status_code, gone.json()) == (500, "silence nope not found")


@pytest.mark.integration
def test_alerts_show_silenced_and_inhibited_status(api: Api) -> None:
    down = alert(alertname="HostDown", host="b")
    now = SystemClock().now()
    api.d.handle([tr(alert(host="a")), tr(alert(severity="warning", host="b")), tr(down)], now)
    requests.post(
        f"{api.url}/api/v2/silences",
        json=SILENCE,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).raise_for_status()
    got = requests.get(f"{api.url}/api/v2/alerts", timeout=5).json()
    assert [a["fingerprint"] for a in got] == sorted(a["fingerprint"] for a in got)
    by_host = {(a["labels"]["alertname"], a["labels"]["host"]): a for a in got}
    a, b, hd = by_host[("HighLoad", "a")], by_host[("HighLoad", "b")], by_host[("HostDown", "b")]
    assert set(a) == {
        "labels", "annotations", "receivers", "fingerprint", "startsAt", "updatedAt", "endsAt",
        "generatorURL", "status",
    }  # fmt: skip
    assert a["receivers"] == [{"name": "rec"}]
    assert a["generatorURL"].endswith(f"/#alert-{a['fingerprint']}")
    (sid,) = [s["id"] for s in requests.get(f"{api.url}/api/v2/silences", timeout=5).json()]
    assert a["status"] == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": []}
    assert b["status"] == {
        "state": "suppressed", "silencedBy": [], "inhibitedBy": [hd["fingerprint"]]
    }  # fmt: skip
    assert hd["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}

    def names(**params: str) -> list[tuple[str, str]]:
        got = requests.get(f"{api.url}/api/v2/alerts", params=params, timeout=5).json()
        return sorted((x["labels"]["alertname"], x["labels"]["host"]) for x in got)

    assert names(silenced="false", inhibited="false") == [("HostDown", "b")]
    assert names(active="false") == [("HighLoad", "a"), ("HighLoad", "b")]
    assert names(filter='host="a"') == [("HighLoad", "a")]
    assert names(filter="severity!=warning") == [("HighLoad", "a"), ("HostDown", "b")]
    assert names(receiver="re.*") == names()
    assert names(receiver="other") == []
    bad = requests.get(f"{api.url}/api/v2/alerts", params={"filter": "host"}, timeout=5)
    assert bad.status_code == 400 and "host" in bad.json()
    groups = requests.get(f"{api.url}/api/v2/alerts/groups", timeout=5).json()
    assert [(g["labels"], g["receiver"], len(g["alerts"])) for g in groups] == [
        ({"alertname": "HighLoad"}, {"name": "rec"}, 2),
        ({"alertname": "HostDown"}, {"name": "rec"}, 1),
    ]


@pytest.mark.integration
def test_silences_are_filtered_and_ordered_as_alertmanager_does(api: Api) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def add(starts: str, ends: str, **matchers: str) -> str:
        body = {
            **SILENCE,
            "startsAt": starts,
            "endsAt": ends,
            "matchers": [{"name": k, "value": v, "isRegex": False} for k, v in matchers.items()],
        }
        r = requests.post(f"{api.url}/api/v2/silences", json=body, headers=auth, timeout=5)
        assert r.status_code == 200, r.text
        return str(r.json()["silenceID"])

    late = add("2020-01-01T00:00:00Z", "2100-01-02T00:00:00Z", host="a")
    soon = add("2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z", host="b", job="x")
    later = add("2099-01-01T00:00:00Z", "2100-01-01T00:00:00Z", host="c")
    requests.delete(f"{api.url}/api/v2/silence/{late}", headers=auth, timeout=5)

    def ids(**params: str) -> list[str]:
        got = requests.get(f"{api.url}/api/v2/silences", params=params, timeout=5).json()
        return [s["id"] for s in got]

    assert ids() == [soon, later, late]  # active by end, pending by start, then expired
    assert ids(filter='host=~"a|b"') == [soon, late]
    assert ids(filter="job=x") == [soon]
    assert ids(filter="job!=x") == [later, late]  # a silence without `job` passes !=


@pytest.mark.integration
def test_cli_adds_lists_and_expires_silences(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        api.cli("silence", "add", 'alertname="HighLoad"', "host=~web.*", "-m", "deploy", "-d", "2h")
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
    assert printed_json(capsys.readouterr().out) == []
    assert api.cli("silence", "expire", "nope") == 1
    assert "not found" in capsys.readouterr().err


def test_silence_add_reads_the_old_comment_flag_as_config_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # -c is the config file in every command; an old script's `-c COMMENT` fails clearly
    assert main(["silence", "add", "host=b", "-m", "why", "-c", "deploy"]) == 1
    err = capsys.readouterr().err
    assert "-c deploy: no such config file" in err and "-m/--comment" in err


@pytest.mark.integration
def test_cli_lists_alerts(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    firing, pending = alert(host="a"), alert(host="p", state="pending")
    api.alerts.extend([firing, pending])
    api.d.handle([tr(firing)], SystemClock().now())
    api.d.silences.add(silence_from_api(SILENCE, SystemClock().now()), SystemClock().now())
    assert api.cli("alerts") == 0
    out = capsys.readouterr().out
    assert "HighLoad" in out and "host=a" in out and "firing silenced" in out
    assert "host=p" in out and "pending" in out
    assert api.cli("alerts", "host=p", "--json") == 0
    (only,) = printed_json(capsys.readouterr().out)
    assert (only["labels"]["host"], only["state"], only["silencedBy"]) == ("p", "pending", [])


def test_cli_says_in_one_line_when_the_daemon_is_not_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        assert main(["alerts", "--url", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "connection refused: is the daemon running?" in err
    assert "urllib3" not in err and "Traceback" not in err


@pytest.mark.integration
def test_a_silence_past_the_cap_is_refused_with_400_and_the_reason(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    api.d.silences.max_silences = 1
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = requests.post(f"{api.url}/api/v2/silences", json=SILENCE, headers=auth, timeout=5)
    assert first.status_code == 200, first.text
    r = requests.post(f"{api.url}/api/v2/silences", json=SILENCE, headers=auth, timeout=5)
    assert r.status_code == 400
    assert "maximum number of silences: 1 active or pending (limit: 1)" in r.json()
    update = {**SILENCE, "id": first.json()["silenceID"], "comment": "longer"}
    r = requests.post(f"{api.url}/api/v2/silences", json=update, headers=auth, timeout=5)
    assert r.status_code == 200 and r.json() == first.json()  # updated in place
    assert api.cli("silence", "add", "host=b", "--comment", "deploy", "-d", "1h") == 1
    assert "HTTP 400: exceeded maximum number of silences" in capsys.readouterr().err
    assert len(requests.get(f"{api.url}/api/v2/silences", timeout=5).json()) == 1


NESTED = "((((((.*)*)*)*)*)*)*X"  # the sweep's input: exponential in a backtracking engine


@pytest.mark.integration
def test_a_catastrophic_regex_as_filter_or_silence_is_answered_in_linear_time(api: Api) -> None:
    """Issue 11: this filter froze the daemon (GET needs no token on loopback), and POSTed as a
    silence it froze it again after every restart. Matched against a 40-character value it
    would take longer than the test's timeout in Python's `re`; in RE2 it takes microseconds."""
    api.d.handle([tr(alert(host="a" * 40 + "!"))], SystemClock().now())
    got = requests.get(
        f"{api.url}/api/v2/alerts", params={"filter": f"host=~{json.dumps(NESTED)}"}, timeout=30
    )
    assert got.status_code == 200 and got.json() == []
    silence = {**SILENCE, "matchers": [{"name": "host", "value": NESTED, "isRegex": True}]}
    r = requests.post(
        f"{api.url}/api/v2/silences",
        json=silence,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    (listed,) = requests.get(f"{api.url}/api/v2/alerts", timeout=30).json()
    assert listed["status"]["silencedBy"] == []  # matched, in linear time, and it does not match
    api.d.handle([tr(alert(host="b" * 40 + "!"))], SystemClock().now())  # through routing too
