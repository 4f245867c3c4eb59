"""The web page's sections as the view builds them: an alert's labels as one text run, the
blocks and ids the live update keeps, groups, collectors, rules, the alerts token, escapes.
Moved from test_page.py (routes, headers, token)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from alerter.rules.alert import Alert, Listing, State
from alerter.testing import FixedClock
from alerter.web import view
from alerter.web.routes import routes
from tests.alerter.web.test_page import MARKUP, FakeDaemon, Page, alert, call
from tests.alerter.web.test_page import daemon as daemon  # (the fixture)

# the page script's reading of an alert's labels text (app.js alertMatchers), in Python
LABEL_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*")')


def test_an_alerts_labels_are_one_text_run_the_silence_form_reads_back() -> None:
    labels = {
        "alertname": "AppErrors",
        "note": MARKUP,
        "path": 'C:\\logs\\"quoted" a=b',
        "multi": "two\nlines ünïcode",
        "empty": "",
    }
    a = Alert(labels, {}, state="firing", value=1.0, active_at=1.0, fired_at=1.0)
    html = call(routes(FakeDaemon([a])), "/").body.decode()
    (text,) = re.findall(r'<p class="labels">(.*?)</p>', html, re.S)
    assert "<" not in text and "&lt;script&gt;" in text  # escaped, one text node
    page = Page()
    page.feed(text)
    read = {k: json.loads(v) for k, v in LABEL_RE.findall(page.text)}
    assert read == {k: v for k, v in labels.items() if k != "alertname"}


def test_the_alerts_and_their_groups_carry_ids_the_live_update_matches_by(
    daemon: FakeDaemon,
) -> None:
    html = call(routes(daemon), "/").body.decode()
    assert re.findall(r'<article class="group" id="(group-[0-9a-f]{12})">', html)
    # no whitespace between alerts: 1,000 alerts make no 1,000 text nodes
    assert re.search(r"</li>\s+<li", html) is None
    assert len(re.findall(r"<li class=\"alert", html)) == 2


def test_alerts_come_in_blocks_whose_bounds_stay_when_an_alert_comes() -> None:
    def alerts(n: int) -> list[dict[str, Any]]:
        out = [
            {
                "state": "firing",
                "alertname": "Many",
                "fingerprint": hashlib.sha256(b"%d" % i).hexdigest()[:16],
            }
            for i in range(n)
        ]
        out.append({"state": "pending", "alertname": "One", "fingerprint": "0" * 16})
        return sorted(out, key=lambda a: (a["state"] != "firing", a["alertname"], a["fingerprint"]))

    def shape(bs: list[dict[str, Any]]) -> dict[str, list[str]]:
        return {b["id"]: [a["fingerprint"] for a in b["alerts"]] for b in bs}

    before = shape(view.blocks("group-x", alerts(1000)))
    assert 10 <= len(before) <= 40 and max(map(len, before.values())) <= 4 * view.BLOCK
    after = shape(view.blocks("group-x", alerts(1001)))  # one more "Many"
    assert before.keys() == after.keys()
    assert sum(before[k] != after[k] for k in before) == 1  # only its block changed
    assert [len(v) for v in shape(view.blocks("group-x", alerts(3))).values()] == [3, 1]


def test_the_collectors_section_shows_each_collectors_lag() -> None:
    from types import SimpleNamespace

    d = FakeDaemon([])
    d.run_state = SimpleNamespace(config=SimpleNamespace(collectors=[SimpleNamespace(name="auth")]))
    d.metrics.collector_up.labels("auth").set(1)
    d.metrics.collector_lag.labels("auth").set(0.25)
    (row,) = view.collectors(d, view.Rates())
    assert row["lag"] == "0.25 s"


def test_the_collectors_section_says_when_live_lines_are_too_old_for_every_rule() -> None:
    """The status's `late_lines` (alerter/runtime/latelines.py): the hint shows under the
    collector's late count."""
    from types import SimpleNamespace

    from alerter.runtime.latelines import hint

    d = FakeDaemon([])
    d.run_state = SimpleNamespace(
        dispatcher=None,
        actions=None,
        config=SimpleNamespace(collectors=[SimpleNamespace(name="app")]),
    )
    d.metrics.events_late.labels("app").inc(39)
    d.late_lines = {"app": {"lines": 39, "age_seconds": 3600, "since": 1.7e9, "hint": hint(3600)}}
    page = Page()
    page.feed(call(routes(d), "/").body.decode())
    assert "39lines read as they are written are ~1h old: check the parser's time_format" in (
        page.text
    )


def test_a_group_shows_its_first_alerts_firing_first_and_counts_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A storm's 100,000 alerts took 17 s to render into a 26 MiB page: a group shows at most
    MAX_CARDS (firing first), counts every alert in its heading and says how many it leaves
    out and where to list them."""
    monkeypatch.setattr(view, "MAX_CARDS", 5)
    alerts = [alert(f"p{i}", "pending") for i in range(4)] + [alert(f"f{i}") for i in range(4)]
    daemon = FakeDaemon(alerts)
    (group,) = view.alert_groups(daemon, daemon.clock.now())
    shown = [a["state"] for a in group["alerts"]]
    assert shown == ["firing"] * 4 + ["pending"]
    assert (group["firing"], group["pending"], group["hidden"]) == (4, 4, 3)
    html = call(routes(daemon), "/").body.decode()
    assert html.count('<li class="alert') == 5
    assert "4 firing, 4 pending" in html
    assert "and 3 more, not shown: <code>alerter alerts</code>" in html

    daemon = FakeDaemon(alerts[:5])  # as many as it shows: nothing said
    assert "more, not shown" not in call(routes(daemon), "/").body.decode()


def test_the_rules_section_counts_every_alert_of_a_rule_and_shows_its_top_keys() -> None:
    """Only a rule's top keys are made into views (a storm's 100,000 alerts were each made
    into one for a table that shows five); the count and the state still read them all."""
    from alerter.rules.model import Group, Rule

    rule = Rule(alert="Many", group="g", index=0, logs=None, metric=None, aggregate="count",
                over=300.0, by=("key",))  # fmt: skip

    class WithRules(FakeDaemon):
        def rule_groups(self) -> list[Any]:
            return [Group("g", 15.0, (rule,))]

    def one(i: int, state: State) -> Alert:
        return Alert({"alertname": "Many", "key": f"k{i}"}, {}, state, float(i), 1.7e9, group="g")

    # the highest values are pending: the rule is firing all the same (its low keys are)
    alerts = [one(i, "firing") for i in range(10)] + [one(i, "pending") for i in range(10, 13)]
    (group,) = view.rules(WithRules(alerts))
    (r,) = group["rules"]
    assert (r["alerts"], r["state"]) == (13, "firing")
    assert [t["key"] for t in r["top"]] == ["key=k12", "key=k11", "key=k10", "key=k9", "key=k8"]


def test_the_alerts_token_changes_with_what_the_section_shows_and_costs_what_changed(
    tmp_path: Path,
) -> None:
    """The page's live poll compares a token to skip rendering the alerts section again. It
    reads each rule's Listing (the same object while the rule's alerts did not change) and the
    dispatcher's version of its firing alerts, not every alert and fingerprint at each poll."""
    from types import SimpleNamespace

    from alerter.store.db import StateStore
    from alerter.testing import RecordingNotifier
    from tests.alerter.dispatch.helpers import alert as dalert
    from tests.alerter.dispatch.helpers import make_dispatcher, route, tr

    clock = FixedClock()
    d = make_dispatcher(
        StateStore(tmp_path / "s"),
        clock,
        route("{receiver: a}", ("a",)),
        {"a": RecordingNotifier("a")},
    )
    listing = Listing("AppErrors", (), (alert("1"),), (alert("1"),))

    class Stable(FakeDaemon):
        def listings(self) -> list[Listing]:
            return [listing]

    daemon = Stable([])
    daemon.run_state = SimpleNamespace(dispatcher=d, actions=None)
    try:
        first = view.alerts_token(daemon, clock.now())
        assert view.alerts_token(daemon, clock.now()) == first
        held = dalert(host="x")
        d.handle([tr(held)], clock.now())  # held as firing by the dispatcher: shown
        second = view.alerts_token(daemon, clock.now())
        assert second != first
        d.refresh([held])  # held again as it is: nothing the section shows changed
        assert view.alerts_token(daemon, clock.now()) == second
        listing = Listing("AppErrors", (), (alert("2"),), (alert("2"),))  # the rule's changed
        assert view.alerts_token(daemon, clock.now()) != second
    finally:
        d.stop()


def test_a_bidi_override_in_log_text_is_shown_escaped_and_the_silence_form_reads_it_back() -> None:
    """U+202E in a log line would reverse the text after it on the page (an address read
    backwards, a label spilling over its neighbours): every value is shown with such
    characters escaped, and a label's value still reads back as the original."""
    odd = "203.0.113.7\u202e7.311.0.302 \x85nel \U000e0001tag"
    a = Alert(
        {"alertname": "AppErrors", "ip": odd},
        {"summary": f"from {odd}"},
        state="firing",
        value=1.0,
        active_at=1.0,
        fired_at=1.0,
        examples=(f"ERROR from {odd}",),
    )
    body = call(routes(FakeDaemon([a])), "/").body.decode()
    assert "\u202e" not in body and "\x85" not in body and "\U000e0001" not in body
    assert "from 203.0.113.7\\u202e7.311.0.302" in body  # the summary and the example line
    (text,) = re.findall(r'<p class="labels">(.*?)</p>', body, re.S)
    page = Page()
    page.feed(text)
    assert {k: json.loads(v) for k, v in LABEL_RE.findall(page.text)} == {"ip": odd}
