"""Pure payload builders: webhook (Alertmanager v4), Slack (Block Kit, escaping, limits),
Alertmanager push, console."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re

from alerter.notifiers.alertmanager import alertmanager_payload
from alerter.notifiers.amjson import webhook_payload
from alerter.notifiers.config import SlackSettings, WebhookSettings
from alerter.notifiers.console import console_lines
from alerter.notifiers.model import Notification, NotifiedAlert, sample_notification
from alerter.notifiers.slack import MAX_BLOCKS, MAX_SECTION_TEXT, slack_payload
from alerter.notifiers.webhook import SIGNATURE_HEADER, webhook_request

T = 1_700_000_000.0


def firing(i: int = 0, **extra: str) -> NotifiedAlert:
    labels = {"alertname": "HighLoad", "host": f"h{i}", "severity": "warning", **extra}
    return NotifiedAlert(
        "firing",
        labels,
        {"summary": f"load on h{i}"},
        T,
        None,
        f"{i:016x}",
        2.5,
        "http://x/api/v1/rules?alertname=HighLoad",
    )


def notification(*alerts: NotifiedAlert) -> Notification:
    return Notification(
        "hook", '{}:{alertname="HighLoad"}', {"alertname": "HighLoad"}, alerts, T, "http://x"
    )


def test_webhook_payload_is_alertmanager_v4_field_for_field() -> None:
    resolved = NotifiedAlert(
        "resolved",
        {"alertname": "HighLoad", "host": "h9", "severity": "warning"},
        {"summary": "load on h9"},
        T - 60,
        T - 1,
        "9" * 16,
    )
    p = webhook_payload(notification(firing(1), resolved))
    assert set(p) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert p["version"] == "4"
    assert p["status"] == "firing"
    assert p["receiver"] == "hook"
    assert p["groupKey"] == '{}:{alertname="HighLoad"}'
    assert p["truncatedAlerts"] == 0
    assert p["commonLabels"] == {"alertname": "HighLoad", "severity": "warning"}
    assert p["commonAnnotations"] == {}
    assert p["externalURL"] == "http://x"
    a0, a1 = p["alerts"]
    assert set(a0) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    assert a0["endsAt"] == "0001-01-01T00:00:00Z"
    assert a0["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert a1["status"] == "resolved" and a1["endsAt"] == "2023-11-14T22:13:19.000Z"


def test_webhook_alert_carries_action_notes_only_when_actions_ran() -> None:
    import dataclasses

    acted = dataclasses.replace(
        firing(1), action_notes=("restarted web.service at 12:03 UTC, 1 of 3 in the last hour",)
    )
    p = webhook_payload(notification(acted, firing(2)))
    assert p["alerts"][0]["actionNotes"] == [
        "restarted web.service at 12:03 UTC, 1 of 3 in the last hour"
    ]
    assert "actionNotes" not in p["alerts"][1]


def test_webhook_max_alerts_truncates_and_counts() -> None:
    p = webhook_payload(notification(*(firing(i) for i in range(5))), max_alerts=2)
    assert len(p["alerts"]) == 2
    assert p["truncatedAlerts"] == 3


def test_webhook_signature_is_hmac_sha256_of_the_exact_body() -> None:
    s = WebhookSettings("http://x", {"X-Team": "infra"}, hmac_secret=b"s3cret")
    body, headers = webhook_request(notification(firing()), s)
    assert (
        headers[SIGNATURE_HEADER]
        == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    )
    assert headers["X-Team"] == "infra"
    assert json.loads(body)["version"] == "4"


def test_webhook_body_template_renders_payload_fields() -> None:
    s = WebhookSettings(
        "http://x", body='{"text": {{ (status ~ " " ~ alerts[0].labels.host) | tojson }}}'
    )
    body, _ = webhook_request(notification(firing(3, note='"quoted"')), s)
    assert json.loads(body) == {"text": "firing h3"}


def test_slack_escapes_log_text_so_it_cannot_mention_or_break_formatting() -> None:
    evil = NotifiedAlert(
        "firing",
        {"alertname": "Evil", "user": "<!channel>"},
        {"summary": "hi <!here> & <@U123>"},
        T,
        None,
        "e" * 16,
        examples=("x ``` <!everyone> & done",),
    )
    p = slack_payload(notification(evil), SlackSettings("http://x"))
    # header blocks are plain_text, which Slack never parses for mentions
    text = json.dumps([p["text"], *(b for b in p["blocks"] if b["type"] != "header")])
    assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
    assert "<!everyone>" not in text
    section = p["blocks"][2]["text"]
    assert "&lt;!here&gt; &amp; &lt;@U123&gt;" in section["text"]
    assert section["text"].count("```") == 2  # the log line's ``` cannot close the code block
    # nor auto-linked (a log line's URL, #channel, @here): the text objects are verbatim
    assert section["verbatim"] is True and p["blocks"][1]["text"]["verbatim"] is True


def test_slack_shows_a_bidi_override_from_a_log_line_escaped() -> None:
    """U+202E would show the text after it reversed in Slack (an address read as another),
    in the header, the labels and the log lines alike."""
    evil = dataclasses.replace(
        firing(1, user="203.0.113.7\u202e7.311.0.302"),
        examples=("from 203.0.113.7\u202e7.311.0.302\tport \x1b[2J",),
    )
    n = dataclasses.replace(notification(evil), group_labels={"user": evil.labels["user"]})
    p = slack_payload(n, SlackSettings("http://x"))
    text = json.dumps(p, ensure_ascii=False)
    assert "\u202e" not in text and "\x1b" not in text
    assert "203.0.113.7\\u202e7.311.0.302" in p["blocks"][0]["text"]["text"]
    assert "from 203.0.113.7\\u202e7.311.0.302\tport \\x1b[2J" in p["blocks"][2]["text"]["text"]


def test_slack_log_text_outside_the_examples_cannot_open_a_code_block() -> None:
    # a ``` in a summary, a description or a label opened a block that swallowed the lines
    # after it, and left the log lines outside any
    evil = NotifiedAlert(
        "firing",
        {"alertname": "Evil", "user": "a```b"},
        {"summary": "s ```", "description": "Last attempts: x ``` y"},
        T,
        None,
        "e" * 16,
        examples=("x ``` y",),
        action_notes=("ran ``` z",),
    )
    section = slack_payload(notification(evil), SlackSettings("http://x"))["blocks"][2]["text"]
    assert section["text"].count("```") == 2
    assert "*Log lines:*\n```x `\u200b`\u200b` y```" in section["text"]


def test_slack_firing_and_resolved_are_distinguishable_and_count_alerts() -> None:
    p = slack_payload(notification(firing(1), firing(2)), SlackSettings("http://x", channel="#ops"))
    assert p["text"].startswith(":fire: [FIRING:2] HighLoad")
    assert p["channel"] == "#ops"
    r = NotifiedAlert("resolved", {"alertname": "HighLoad"}, {}, T, T + 1, "1" * 16)
    p2 = slack_payload(notification(r), SlackSettings("http://x"))
    assert p2["text"].startswith(":white_check_mark: [RESOLVED] HighLoad")


def test_slack_keeps_within_block_and_section_limits_with_a_visible_note() -> None:
    big = NotifiedAlert(
        "firing",
        {"alertname": "Big"},
        {"summary": "s", "description": "d" * 5000},
        T,
        None,
        "b" * 16,
        examples=tuple("line " * 100 for _ in range(20)),
    )
    p = slack_payload(notification(big, *(firing(i) for i in range(80))), SlackSettings("http://x"))
    assert len(p["blocks"]) <= MAX_BLOCKS
    texts = [b["text"]["text"] for b in p["blocks"] if b["type"] == "section"]
    assert all(len(t) <= MAX_SECTION_TEXT for t in texts)
    assert any("(truncated)" in t for t in texts)
    # each part is cut on its own: no cut leaves a code block or a link open
    assert all(t.count("```") % 2 == 0 and t.count("<") == t.count(">") for t in texts)
    assert len(p["text"]) <= MAX_SECTION_TEXT
    notes = [e["text"] for b in p["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert any(re.search(r"and \d+ more alerts not shown", n) for n in notes)


def test_slack_keeps_a_block_for_the_note_of_alerts_left_out_by_the_group() -> None:
    # 47 alerts fill the blocks left (50 - header, counts, footer); one the group left out
    # needs the note: 46 shown, "2 more"
    many = notification(*(firing(i) for i in range(47)))
    p = slack_payload(dataclasses.replace(many, truncated_alerts=1), SlackSettings("http://x"))
    assert len(p["blocks"]) == MAX_BLOCKS
    notes = [e["text"] for b in p["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "… and 2 more alerts not shown" in notes


def test_alertmanager_push_sets_ends_at_ahead_while_firing_and_resolve_time_when_resolved() -> None:
    r = NotifiedAlert(
        "resolved", {"alertname": "HighLoad", "host": "h9"}, {}, T - 60, T - 1, "9" * 16
    )
    a, b = alertmanager_payload(notification(firing(1), r), now=T + 100, resend_interval=60)
    assert a["endsAt"] == "2023-11-14T22:19:00.000Z"  # now (22:15:00) + 4 x 60s
    assert b["endsAt"] == "2023-11-14T22:13:19.000Z"
    assert set(a) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}


def test_console_prints_one_escaped_line_per_alert() -> None:
    n = sample_notification()
    evil = NotifiedAlert(
        "firing", {"alertname": "X"}, {"summary": "a\x1b[31mred\nnext"}, T, None, "1" * 16
    )
    lines = console_lines(n) + console_lines(notification(evil))
    assert len(lines) == 3
    assert "FIRING" in lines[0] and "RESOLVED" in lines[1]
    assert "\x1b" not in lines[2] and "\n" not in lines[2]
    assert "ran ban at 12:03" in lines[0]


def test_webhook_body_template_failing_at_send_time_is_not_retried() -> None:
    import pytest
    import requests

    from alerter.core.yamlsource import Mark
    from alerter.errors import NotifyError
    from alerter.notifiers.config import NotifierConfig
    from alerter.notifiers.webhook import WebhookNotifier

    cfg = NotifierConfig(
        "h", "webhook", Mark("c", 1, 1), WebhookSettings("http://x", body="{{ alerts[5].x }}")
    )
    with pytest.raises(NotifyError) as e:
        WebhookNotifier(cfg, requests.Session()).send(notification(firing()))
    assert e.value.retry is False and "template" in str(e.value)


def test_slack_links_each_alert_to_its_place_on_the_page() -> None:
    url = "http://alerter.test:9753/#alert-" + "a" * 16
    a = NotifiedAlert("firing", {"alertname": "HighLoad"}, {}, T, None, "a" * 16, generator_url=url)
    (section,) = [
        b["text"]["text"]
        for b in slack_payload(notification(a), SlackSettings("http://x"))["blocks"]
        if b["type"] == "section" and "HighLoad" in b["text"]["text"]
    ]
    assert f"<{url}|Open in alerter>" in section


def test_an_infinite_or_nan_value_is_shown_not_raised_by_console_and_slack() -> None:
    n = sample_notification()
    for value, shown in [(float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN")]:
        a = dataclasses.replace(n.alerts[0], value=value)
        one = dataclasses.replace(n, alerts=(a,))
        assert (
            console_lines(one)[0].endswith(f"value={shown}")
            or f"value={shown} " in (console_lines(one)[0])
        )
        text = json.dumps(slack_payload(one, SlackSettings(webhook_url="https://h.example/x")))
        assert f"*Value:* {shown} " in text
    assert [console_lines(dataclasses.replace(n, alerts=(dataclasses.replace(
        n.alerts[0], value=v),)))[0].split("value=")[1].split()[0] for v in (5.0, 0.25, 12345678.0)
    ] == ["5", "0.25", "12345678"]  # fmt: skip
