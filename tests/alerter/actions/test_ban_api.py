"""Bans by hand and through the API (list, ban, lift, validation), and their metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alerter.actions.banaddr import parse_address
from alerter.testing import FakeFirewall
from tests.alerter.actions.ban_setup import BAN, build
from tests.alerter.actions.conftest import T0, Harness, alert, fire


def test_manual_ban_and_lift_and_metric(harness: Harness) -> None:
    runner, bans, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip="2001:db8::7"), T0)], T0)
    assert runner.wait_idle(10)
    bans.ban(parse_address("203.0.113.9"), 3600, (22,), "by hand")
    assert fw.banned() == {"2001:db8::7": 600.0, "203.0.113.9": 3600.0}
    assert ("add", "203.0.113.9", (22,), 3600.0) in fw.calls
    from alerter.actions import _count_bans

    assert _count_bans(bans, harness.clock, "ipv4") == 1
    assert _count_bans(bans, harness.clock, "ipv6") == 1
    lifted = bans.lift(parse_address("203.0.113.9"))
    assert lifted is not None and lifted.lifted == T0
    assert fw.banned() == {"2001:db8::7": 600.0}
    assert bans.lift(parse_address("203.0.113.9")) is None
    assert _count_bans(bans, harness.clock, "ipv4") == 0


def test_daemon_metric_counts_bans_by_family(harness: Harness, tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from alerter.actions import build_action_runner
    from alerter.config.load import load_config
    from alerter.runtime.metrics import Metrics

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"global: {{state_dir: {tmp_path}/st}}\n" + BAN)
    config = load_config(str(cfg))
    registry = CollectorRegistry()
    fw = FakeFirewall(harness.clock)
    from alerter.store.db import StateStore

    store = StateStore(tmp_path / "st")
    runner = build_action_runner(
        config, store, Metrics(registry), harness.clock, {}, lambda t: None, firewall=fw
    )
    try:
        runner.handle([fire(alert(["ban"], ip="2001:db8::9"), T0)], T0)
        assert runner.wait_idle(10)
        assert registry.get_sample_value("alerter_bans", {"family": "ipv6"}) == 1.0
        assert registry.get_sample_value("alerter_bans", {"family": "ipv4"}) == 0.0
        harness.clock.advance(601)
        assert registry.get_sample_value("alerter_bans", {"family": "ipv6"}) == 0.0
    finally:
        runner.stop()
        store.close()


def test_api_routes_validate_ban_list_and_lift(harness: Harness) -> None:
    from alerter.actions.banapi import routes
    from alerter.api.routes import HTTPError, Request

    _, bans, fw = build(harness)
    table = {(r.method, r.pattern): r for r in routes(bans)}
    assert table[("POST", "/api/v1/bans")].mutating
    assert table[("DELETE", "/api/v1/bans/{address}")].mutating
    assert not table[("GET", "/api/v1/bans")].mutating

    def call(method: str, pattern: str, body: object = None, **kw: str) -> Any:  # (JSON)
        route = table[(method, pattern)]
        req = Request(
            method,
            pattern,
            {k: [v] for k, v in kw.items() if k != "address"},
            {},
            json.dumps(body).encode() if body is not None else b"",
            {"address": kw["address"]} if "address" in kw else {},
        )
        return json.loads(route.handler(req).body)

    for body, status in [
        ({"address": "example.org"}, 400),
        ({"address": "203.0.113.7", "duration": "forever"}, 400),
        ({"address": "203.0.113.7", "ports": [70000]}, 400),
        ({"address": "127.0.0.1"}, 409),
        ([1, 2], 400),
        ({"address": "203.0.113.7", "durration": "1h"}, 400),  # not a 10-minute ban
    ]:
        with pytest.raises(HTTPError) as e:
            call("POST", "/api/v1/bans", body)
        assert e.value.status == status, body
    assert fw.banned() == {}
    made = call("POST", "/api/v1/bans", {"address": "::ffff:203.0.113.7", "duration": "1h"})
    assert made["data"]["address"] == "203.0.113.7"
    assert made["data"]["remainingSeconds"] == 3600
    assert fw.banned() == {"203.0.113.7": 3600.0}
    listed = call("GET", "/api/v1/bans")["data"]
    assert [b["address"] for b in listed] == ["203.0.113.7"]
    call("DELETE", "/api/v1/bans/{address}", address="203.0.113.7")
    assert fw.banned() == {}
    with pytest.raises(HTTPError) as e:
        call("DELETE", "/api/v1/bans/{address}", address="203.0.113.7")
    assert e.value.status == 404
    assert call("GET", "/api/v1/bans")["data"] == []
    with pytest.raises(HTTPError) as e:
        call("GET", "/api/v1/bans", all="maybe")
    assert e.value.status == 400
    (old,) = call("GET", "/api/v1/bans", all="true")["data"]
    assert old["liftedAt"] is not None and old["action"] == "manual"


def test_delete_on_the_bans_lifts_the_address_in_its_query_or_body(harness: Harness) -> None:
    # DESIGN: GET/POST/DELETE /api/v1/bans, beside DELETE /api/v1/bans/{address}
    from alerter.actions.banapi import routes
    from alerter.api.routes import HTTPError, Request

    _, bans, fw = build(harness)
    table = {(r.method, r.pattern): r for r in routes(bans)}
    lift = table[("DELETE", "/api/v1/bans")]
    assert lift.mutating
    for address in ("203.0.113.7", "2001:db8::7"):
        bans.ban(parse_address(address), 3600.0, (), "")
    query = Request("DELETE", "/api/v1/bans", {"address": ["203.0.113.7"]}, {}, b"", {})
    body = Request("DELETE", "/api/v1/bans", {}, {}, b'{"address": "2001:db8::7"}', {})
    done = [json.loads(lift.handler(r).body)["data"]["address"] for r in (query, body)]
    assert done == ["203.0.113.7", "2001:db8::7"] and fw.banned() == {}
    with pytest.raises(HTTPError) as e:
        lift.handler(Request("DELETE", "/api/v1/bans", {}, {}, b"", {}))
    assert e.value.status == 400 and "?address=ADDR" in e.value.message
    with pytest.raises(HTTPError) as e:
        lift.handler(query)
    assert e.value.status == 404


@pytest.mark.parametrize("port", ["0", "70000", "true"])
def test_a_bad_port_is_told_in_the_same_words_by_the_config_the_api_and_the_cli(
    harness: Harness, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from alerter.actions.banapi import routes
    from alerter.api.routes import HTTPError, Request
    from alerter.cli.main import main
    from alerter.core.yamlsource import SourceError
    from tests.alerter.actions.conftest import parse_actions

    value = json.loads(port)  # the number (or boolean) the YAML and the JSON hold
    said = f"expected a port number from 1 to 65535, got {value!r}"
    with pytest.raises(SourceError) as config:
        parse_actions(f'actions: [{{name: b, type: ban, address: "x", ports: [{port}]}}]')
    assert str(config.value).endswith(f"ports: {said}")

    (post,) = [r for r in routes(build(harness)[1]) if r.method == "POST"]
    body = json.dumps({"address": "203.0.113.7", "ports": [value]}).encode()
    with pytest.raises(HTTPError) as api:
        post.handler(Request("POST", "/api/v1/bans", {}, {}, body, {}))
    assert (api.value.status, str(api.value)) == (400, f"ports: {said}")

    if port.isdigit():  # (`-p true` is a word, not a number)
        with pytest.raises(SystemExit):
            main(["bans", "add", "203.0.113.7", "-p", port, "--url", "http://127.0.0.1:1"])
        assert capsys.readouterr().err.endswith(f"argument -p/--port: {said}\n")


@pytest.mark.parametrize("duration", ["0s", "366d"])
def test_a_ban_duration_out_of_range_is_refused_alike_by_the_config_the_api_and_the_cli(
    harness: Harness, duration: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alerter bans add -d 400d` was sent, then refused by the daemon with a 400."""
    from alerter.actions.banapi import routes
    from alerter.api.routes import HTTPError, Request
    from alerter.cli.main import main
    from alerter.core.yamlsource import SourceError
    from tests.alerter.actions.conftest import parse_actions

    said = "must be from 1s to 365d"
    with pytest.raises(SourceError) as config:
        parse_actions(f'actions: [{{name: b, type: ban, address: "x", duration: {duration}}}]')
    assert str(config.value).endswith(f"duration: {said}")

    (post,) = [r for r in routes(build(harness)[1]) if r.method == "POST"]
    body = json.dumps({"address": "203.0.113.7", "duration": duration}).encode()
    with pytest.raises(HTTPError) as api:
        post.handler(Request("POST", "/api/v1/bans", {}, {}, body, {}))
    assert (api.value.status, str(api.value)) == (400, f"duration: {said}")

    with pytest.raises(SystemExit) as cli:
        main(["bans", "add", "203.0.113.7", "-d", duration, "--url", "http://127.0.0.1:1"])
    assert cli.value.code == 2
    assert capsys.readouterr().err.endswith(f"argument -d/--duration: '{duration}': {said}\n")
