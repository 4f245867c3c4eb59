"""The web page's routes without a browser: what a reader without JavaScript gets, the
headers that keep it safe, the live endpoint's digests, and who needs the token."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry

from alerter.api.routes import Request, Response, Route
from alerter.api.server import APIServer
from alerter.rules.alert import Alert, Listing, State
from alerter.runtime.metrics import Metrics
from alerter.testing import FixedClock
from alerter.web import view
from alerter.web.routes import CSP, routes
from tests.alerter.api import daemon_fixture
from tests.conftest import HTTPReceiver

MARKUP = '<script>alert(1)</script><img src=x onerror="alert(2)"> & done'


class FakeDaemon:
    """The parts of the daemon the page reads (alerter.web.view.Source); no dispatcher."""

    def __init__(self, alerts: list[Alert]) -> None:
        self.run_state: Any = None  # (as Source's: a Running, or a test's stand-in for its parts)
        self.metrics = Metrics(CollectorRegistry())
        self.clock = FixedClock()
        self.late_lines: dict[str, Any] = {}  # the status's (alerter/runtime/latelines.py)
        self._alerts = alerts

    def alerts(self) -> list[Alert]:
        return list(self._alerts)

    def listings(self) -> list[Listing]:
        firing = tuple(a for a in self._alerts if a.state == "firing")
        return [Listing("AppErrors", (), tuple(self._alerts), firing)]

    def rule_groups(self) -> list[Any]:
        return []

    def rule_health(self) -> list[dict[str, Any]]:
        return []

    def status(self) -> dict[str, Any]:
        firing = sum(a.state == "firing" for a in self._alerts)
        return {
            "uptime_seconds": 75,
            "alerts": {"firing": firing, "pending": len(self._alerts) - firing},
            "dry_run": False,
            "bus_length": 0,
            "last_reload_error": None,
            "state": {"ok": True, "error": None},
            "late_lines": self.late_lines,
        }


def alert(code: str, state: State = "firing", line: str = "") -> Alert:
    return Alert(
        labels={"alertname": "AppErrors", "code": code, "note": MARKUP},
        annotations={"summary": f"errors with code {code}"},
        state=state,
        value=3.0,
        active_at=1_699_999_000.0,
        fired_at=1_699_999_060.0 if state == "firing" else None,
        examples=(line,) if line else (),
    )


def call(table: list[Route], path: str, query: str = "") -> Response:
    for r in table:
        params = r.match("GET", path)
        if params is not None:
            q = {k: [v] for k, v in (p.split("=", 1) for p in query.split("&") if p)}
            return r.handler(Request("GET", path, q, {}, b"", params))
    raise AssertionError(f"no route for {path}")


class Page(HTMLParser):
    """What the browser would load and run from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script = ""
        self.styled: list[str] = []  # elements with a style attribute (CSP refuses them)
        self.handlers: list[str] = []  # on* attributes
        self.urls: list[str] = []
        self.ids: list[str] = []
        self.text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts.append(a)
            self._in_script = True
        if "style" in a or tag == "style":
            self.styled.append(tag)
        self.handlers += [k for k in a if k.startswith("on")]
        self.urls += [v for k, v in a.items() if k in ("src", "href") and v]
        if a.get("id"):
            self.ids.append(str(a["id"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script += data
        else:
            self.text += data


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon([alert("500", line=f"ERROR 500 {MARKUP}"), alert("404", state="pending")])


def test_the_page_is_server_rendered_readable_without_javascript(daemon: FakeDaemon) -> None:
    resp = call(routes(daemon), "/")
    assert resp.status == 200 and resp.content_type == "text/html; charset=utf-8"
    page = Page()
    page.feed(resp.body.decode())
    for a in daemon.alerts():
        assert f"alert-{a.fingerprint}" in page.ids  # the generatorURL's anchor
    assert "errors with code 500" in page.text and "1 firing" in page.text
    assert f"ERROR 500 {MARKUP}" in page.text  # the log line, as text
    assert "since 2023-11-14 21:57:40Z" in page.text  # since when it fires (fired_at, UTC)


def test_log_text_is_escaped_and_nothing_runs_inline(daemon: FakeDaemon) -> None:
    body = call(routes(daemon), "/").body.decode()
    assert "<script>alert(1)" not in body and "<img" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    page = Page()
    page.feed(body)
    assert page.scripts == [{"src": "static/app.js", "defer": None}]
    assert page.inline_script.strip() == ""
    assert page.styled == [] and page.handlers == []
    # everything from the daemon itself: no CDN, no external fonts
    assert all(not re.match(r"^(\w+:)?//", u) for u in page.urls), page.urls


def test_the_page_carries_a_content_security_policy_without_inline_scripts(
    daemon: FakeDaemon,
) -> None:
    table = routes(daemon)
    for path in ("/", "/api/v1/page", "/static/app.js"):
        assert call(table, path).headers["Content-Security-Policy"] == CSP
    policy = dict(p.strip().split(" ", 1) for p in CSP.split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert "unsafe" not in CSP


def test_the_live_endpoint_sends_only_the_sections_that_changed(daemon: FakeDaemon) -> None:
    table = routes(daemon)
    page = call(table, "/").body.decode()
    digests = dict(re.findall(r'data-section="(\w+)" data-digest="(\w+)"', page))
    assert set(digests) == {"head", "alerts", "silences", "rules", "collectors", "actions"}
    have = ",".join(f"{k}:{v}" for k, v in digests.items())
    body = json.loads(call(table, "/api/v1/page", f"have={have}").body)["sections"]
    assert {k: v["digest"] for k, v in body.items()} == digests
    assert all("html" not in v for v in body.values()), body
    daemon._alerts.append(alert("503", line="a new one"))
    body = json.loads(call(table, "/api/v1/page", f"have={have}").body)["sections"]
    assert "a new one" in body["alerts"]["html"]
    assert "html" not in body["silences"]


def test_static_files_are_the_packaged_ones_only(daemon: FakeDaemon) -> None:
    table = routes(daemon)
    js = call(table, "/static/app.js")
    assert js.content_type.startswith("text/javascript") and b"use strict" in js.body
    assert call(table, "/static/app.css").content_type.startswith("text/css")
    with pytest.raises(Exception, match="no such file"):
        call(table, "/static/page.html")


def test_rates_need_a_second_between_reads() -> None:
    rates = view.Rates()
    assert rates.update({"app": 100}, 10.0) == {}
    assert rates.update({"app": 150}, 10.5) == {}  # too soon: no rate yet
    assert rates.update({"app": 300}, 12.0) == {"app": 100.0}
    assert rates.update({"app": 300}, 12.2) == {"app": 100.0}  # kept until the next second
    assert rates.quiet_for("app", 15.0) == 3.0  # it last grew at 12.0
    assert rates.quiet_for("other", 15.0) is None


@pytest.fixture
def exposed_server(daemon: FakeDaemon) -> Iterator[APIServer]:
    server = APIServer("127.0.0.1", 0, CollectorRegistry(), "s3cret", exposed=True)
    server.add_routes(routes(daemon))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.integration
def test_beyond_loopback_reading_the_page_needs_the_token(exposed_server: APIServer) -> None:
    url = f"http://127.0.0.1:{exposed_server.port}"
    assert requests.get(url + "/", timeout=5).status_code == 401
    assert requests.get(url + "/api/v1/page", timeout=5).status_code == 401
    ok = requests.get(url + "/", headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert ok.status_code == 200 and "AppErrors" in ok.text
    # the script and stylesheet hold no data: a page behind a proxy loads them anyway
    assert requests.get(url + "/static/app.js", timeout=5).status_code == 200


@pytest.fixture
def running(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[daemon_fixture.Running]:
    yield from daemon_fixture.start(tmp_path, http_receiver.url)


@pytest.mark.integration
def test_the_generator_url_of_a_notification_lands_on_the_alert_and_survives_a_reload(
    running: daemon_fixture.Running, http_receiver: HTTPReceiver
) -> None:
    running.write("ERROR 500 boom")
    (req,) = http_receiver.wait(1)
    (sent,) = req.json()["alerts"]
    base, anchor = sent["generatorURL"].split("/#", 1)
    assert base == "http://alerter.test:9753" and anchor.startswith("alert-")
    page = requests.get(running.url + "/", timeout=5)
    assert f'id="{anchor}"' in page.text
    auth = {"Authorization": f"Bearer {daemon_fixture.TOKEN}"}
    assert requests.post(running.url + "/-/reload", headers=auth, timeout=30).status_code == 200
    again = requests.get(running.url + "/", timeout=5)
    assert again.status_code == 200 and f'id="{anchor}"' in again.text


def test_alerts_are_grouped_as_the_routes_group_them_with_their_mutes(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from alerter.dispatch.silences import silence_from_api
    from alerter.store.db import StateStore
    from alerter.testing import RecordingNotifier
    from tests.alerter.dispatch.helpers import alert as dalert
    from tests.alerter.dispatch.helpers import inhibit, make_dispatcher, route, tr

    clock = FixedClock()
    cfg = route(
        "{receiver: a, group_by: [alertname], group_wait: 0s, routes: ["
        "{matchers: ['severity=\"warning\"'], receiver: a, group_by: [host], continue: true},"
        " {receiver: b}]}",
        receivers=("a", "b"),
    )
    rule = inhibit(
        "{source_matchers: ['alertname=\"HostDown\"'], target_matchers: ['severity=\"warning\"'],"
        " equal: [host]}"
    )
    notifiers = {"a": RecordingNotifier("a"), "b": RecordingNotifier("b")}
    d = make_dispatcher(StateStore(tmp_path / "s"), clock, cfg, notifiers, inhibit_rules=[rule])
    down = dalert(alertname="HostDown", host="h1", severity="critical")
    load1 = dalert(host="h1", severity="warning")
    load2 = dalert(host="h2", severity="warning")
    waiting = dalert(state="pending", alertname="DiskFilling", host="h2", severity="info")
    d.handle([tr(a) for a in (down, load1, load2)], clock.now())
    d.tick(clock.now())
    matchers = [{"name": "host", "value": "h2", "isRegex": False, "isEqual": True}]
    sid = d.silences.add(
        silence_from_api(
            {
                "matchers": matchers,
                "startsAt": "2023-11-14T00:00:00Z",
                "endsAt": "2030-01-01T00:00:00Z",
                "createdBy": "me",
                "comment": "maintenance",
            },
            clock.now(),
        ),
        clock.now(),
    )
    daemon = FakeDaemon([down, load1, load2, waiting])
    daemon.run_state = SimpleNamespace(
        dispatcher=d, actions=None, config=SimpleNamespace(collectors=[])
    )

    groups = view.alert_groups(daemon, clock.now())
    shape = [
        (g["receiver"], g["labels"], [(a["fingerprint"], a["anchor"]) for a in g["alerts"]])
        for g in groups
    ]
    assert shape == [
        ("a", {"host": "h1"}, [(load1.fingerprint, True)]),
        ("a", {"host": "h2"}, [(load2.fingerprint, True)]),
        ("b", {"alertname": "DiskFilling"}, [(waiting.fingerprint, True)]),
        (
            "b",
            {"alertname": "HighLoad"},
            sorted([(load1.fingerprint, False), (load2.fingerprint, False)]),
        ),
        ("b", {"alertname": "HostDown"}, [(down.fingerprint, True)]),
    ]
    views = {a["fingerprint"]: a for g in groups for a in g["alerts"]}
    assert views[load1.fingerprint]["inhibited_by"] == [down.fingerprint]
    assert views[load2.fingerprint]["silenced_by"] == [sid]
    assert views[waiting.fingerprint]["silenced_by"] == [sid]  # pending ones too
    assert views[down.fingerprint]["silenced_by"] == views[down.fingerprint]["inhibited_by"] == []
    html = call(routes(daemon), "/").body.decode()
    assert html.count(f'id="alert-{load1.fingerprint}"') == 1
    assert html.count('<span class="tag">inhibited</span>') == 2  # load1 in its two groups
