"""The real amtool 0.25 (Debian's prometheus-alertmanager) against the daemon's Alertmanager v2
subset, with the API token as the README tells amtool users to give it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.rules.alert import fingerprint
from tests.alerter.api import daemon_fixture
from tests.alerter.api.daemon_fixture import TOKEN, Running
from tests.conftest import HTTPReceiver, require, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def running(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[Running]:
    yield from daemon_fixture.start(tmp_path, http_receiver.url)


class Amtool:
    def __init__(self, url: str, http_config: Path) -> None:
        self.exe = require("amtool")
        self.url, self.http_config = url, http_config

    def run(self, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [
                self.exe,
                f"--alertmanager.url={self.url}",
                f"--http.config.file={self.http_config}",
                *argv,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if ok:
            assert p.returncode == 0, (argv, p.stdout, p.stderr)
        return p

    def json(self, *argv: str) -> Any:
        return json.loads(self.run(*argv, "-o", "json").stdout)


@pytest.fixture
def amtool(running: Running, tmp_path: Path) -> Amtool:
    cfg = tmp_path / "amtool-http.yml"
    cfg.write_text(f"authorization: {{type: Bearer, credentials_file: {running.token_file}}}\n")
    return Amtool(running.url, cfg)


def test_amtool_queries_alerts_adds_queries_and_expires_a_silence_that_mutes(
    running: Running, amtool: Amtool, http_receiver: HTTPReceiver
) -> None:
    running.write("ERROR 404 first")

    def listed(*argv: str) -> list[dict[str, Any]]:
        return list(amtool.json("alert", "query", *argv))

    (a,) = wait_for(lambda: listed("AppErrors"), timeout=20)
    assert a["labels"]["alertname"] == "AppErrors"
    assert {k: a["labels"][k] for k in ("code", "severity", "env")} == {
        "code": "404",
        "severity": "warning",
        "env": "test",
    }
    assert "host" in a["labels"]
    assert a["fingerprint"] == fingerprint(a["labels"])
    assert a["annotations"]["summary"] == "1 errors with code 404"
    assert a["status"]["state"] == "active"
    assert a["generatorURL"] == f"http://alerter.test:9753/#alert-{a['fingerprint']}"
    assert [r["name"] for r in a["receivers"]] == ["hook"]
    assert "AppErrors" in amtool.run("alert", "query").stdout  # the default table, too
    assert listed("code=500") == []

    # amtool's -c is its comment (alerter's own CLI says -m)
    added = amtool.run("silence", "add", "code=404", "-c", "known bug", "-a", "ops", "-d", "1h")
    sid = added.stdout.strip()
    (s,) = amtool.json("silence", "query")
    assert (s["id"], s["comment"], s["createdBy"], s["status"]["state"]) == (
        sid,
        "known bug",
        "ops",
        "active",
    )
    assert s["matchers"] == [{"name": "code", "value": "404", "isRegex": False, "isEqual": True}]
    assert amtool.run("silence", "query", "-q").stdout.split() == [sid]
    assert amtool.json("silence", "query", "code=500") == []

    # the silence mutes: amtool's default query (active only) drops it, --silenced shows it
    assert listed() == []
    (muted,) = listed("--silenced")
    assert muted["status"] == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": []}
    # and the receiver is not told: the next notification of the group carries 500 only
    running.write("ERROR 500 second")

    def codes_sent() -> list[str] | None:
        for r in list(http_receiver.requests):
            codes = sorted(x["labels"]["code"] for x in r.json()["alerts"])
            if "500" in codes:
                return codes
        return None

    assert wait_for(codes_sent, timeout=20) == ["500"]

    amtool.run("silence", "expire", sid)
    assert amtool.json("silence", "query") == []  # amtool hides expired ones
    (expired,) = amtool.json("silence", "query", "--expired")
    assert expired["status"]["state"] == "expired"
    assert sorted(x["labels"]["code"] for x in listed()) == ["404", "500"]


def test_amtool_sees_the_annotations_a_firing_alert_has_now(
    running: Running, amtool: Amtool
) -> None:
    # as Alertmanager shows what Prometheus last re-sent: the count in the summary goes on
    running.write("ERROR 404 first")

    def summaries() -> list[str]:
        return [a["annotations"]["summary"] for a in amtool.json("alert", "query", "AppErrors")]

    assert wait_for(summaries, timeout=20) == ["1 errors with code 404"]
    running.write("ERROR 404 second", "ERROR 404 third")
    wait_for(lambda: summaries() == ["3 errors with code 404"], timeout=20)


def test_amtool_reports_the_daemons_refusals(running: Running, amtool: Amtool) -> None:
    bad = amtool.run("silence", "add", "code=~a)|(b", "-c", "x", ok=False)
    assert bad.returncode != 0 and "400" in bad.stderr, bad.stderr
    gone = amtool.run("silence", "expire", "00000000-0000-0000-0000-000000000000", ok=False)
    assert gone.returncode != 0 and "not found" in gone.stderr
    # without the token, changes are refused (reads on loopback are open, as before)
    r = requests.post(f"{running.url}/api/v2/silences", json={}, timeout=5)
    assert r.status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post(f"{running.url}/api/v2/silences", json={}, headers=auth, timeout=5)
    assert r.status_code == 400 and isinstance(r.json(), str)


def test_amtool_reads_the_status(running: Running, amtool: Amtool) -> None:
    status = amtool.json("config", "show")
    assert "alerter" in status["config"]["original"]
    assert status["cluster"]["status"] == "disabled"
