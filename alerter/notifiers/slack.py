"""The Slack notifier (incoming webhook): Block Kit plus a plain-text fallback.

Everything that came from alerts (labels, annotations, log lines) is escaped for mrkdwn, which
also stops `<!channel>`, `<!here>` and `<@U...>` in a log line from notifying anyone, and cannot
open or close a code block (```); the text objects are `verbatim`, so Slack does not turn a
log line's URL, `#channel` or `@here` into a link or mention either. Unprintable characters (a
bidi override that would show an address reversed, terminal escapes) are shown escaped
(`\u202e`), as on the console, the web page and in mail. Slack's limits (50 blocks,
3000 characters per section text, 150 per header) are kept by giving each part of an alert's
text its own share, cut with a visible note, so no cut falls in a link or a code block.
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from alerter.notifiers.config import NotifierConfig, SlackSettings
from alerter.notifiers.console import printable
from alerter.notifiers.delivery import post, prepare
from alerter.notifiers.model import Notification, NotifiedAlert, rfc3339, value_text

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_EXAMPLES_TEXT = 1200
# the other parts of an alert's section text (with the examples, the fixed lines and the link,
# under MAX_SECTION_TEXT for an external_url of up to 200 characters)
MAX_HEADLINE_TEXT, MAX_DESCRIPTION_TEXT, MAX_LABELS_TEXT, MAX_NOTES_TEXT = 250, 600, 500, 250
TRUNCATED = "… (truncated)"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(text: str) -> str:
    """mrkdwn escaping: the three characters Slack asks for, and ``` broken up, so that the
    text can neither open a code block nor close the one it sits in; unprintable characters
    shown escaped (line breaks and tabs kept)."""
    out = printable(text, "\n\t").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return out.replace("```", "`\u200b`\u200b`") if "```" in out else out


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: limit - len(TRUNCATED)])
    return cut + TRUNCATED


def title(n: Notification) -> str:
    """Alertmanager's default Slack title: `[FIRING:2] HighCPU web1 (warning)`."""
    status = n.status.upper() + (f":{len(n.firing)}" if n.status == "firing" else "")
    values = [n.group_labels[k] for k in sorted(n.group_labels)]
    extra = [n.common_labels[k] for k in sorted(n.common_labels) if k not in n.group_labels]
    out = f"[{status}] {' '.join(values)}".rstrip()
    if extra:
        out += f" ({' '.join(extra)})"
    return out


def alert_text(a: NotifiedAlert) -> str:
    icon = ":red_circle:" if a.status == "firing" else ":large_green_circle:"
    headline = a.annotations.get("summary") or a.labels.get("alertname", "alert")
    lines = [f"{icon} *{truncate(escape(headline), MAX_HEADLINE_TEXT)}*"]
    desc = a.annotations.get("description")
    if desc:
        lines.append(truncate(escape(desc), MAX_DESCRIPTION_TEXT))
    labels = ", ".join(f"{k}={a.labels[k]}" for k in sorted(a.labels) if k != "alertname")
    if labels:
        lines.append(f"*Labels:* {truncate(escape(labels), MAX_LABELS_TEXT)}")
    value = value_text(a.value)
    since = f"*Since:* {rfc3339(a.starts_at)}"
    if a.ends_at is not None:
        since += f" · *Resolved:* {rfc3339(a.ends_at)}"
    lines.append(f"*Value:* {value} · {since}")
    if a.generator_url:  # the alert on the daemon's page (<external_url>/#alert-<fingerprint>)
        lines.append(f"<{escape(a.generator_url)}|Open in alerter>")
    if a.examples:
        body = truncate("\n".join(escape(x) for x in a.examples), MAX_EXAMPLES_TEXT)
        lines.append(f"*Log lines:*\n```{body}```")
    if a.action_notes:
        notes = "\n".join(f"• {escape(x)}" for x in a.action_notes)
        lines.append("*Actions:*\n" + truncate(notes, MAX_NOTES_TEXT))
    return truncate("\n".join(lines), MAX_SECTION_TEXT)  # (only a very long external_url)


def slack_payload(n: Notification, s: SlackSettings) -> dict[str, Any]:
    firing = n.status == "firing"
    head = printable(title(n))
    emoji = ":fire:" if firing else ":white_check_mark:"
    counts = (
        f"*{len(n.firing)} firing*, {len(n.resolved)} resolved"
        if firing
        else f"*{len(n.resolved)} resolved*"
    )
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"{emoji} {head}", MAX_HEADER_TEXT),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(f"{counts} · receiver {escape(n.receiver)}", MAX_SECTION_TEXT),
                "verbatim": True,
            },
        },
    ]
    footer: dict[str, Any] | None = None
    if n.external_url:
        footer = {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"<{n.external_url}|alerter> · {rfc3339(n.time)}"}
            ],
        }
    ordered = n.firing + n.resolved
    room = MAX_BLOCKS - len(blocks) - (1 if footer else 0)
    if len(ordered) > room or n.truncated_alerts:
        room -= 1  # for the "... and N more" line
    shown = ordered[:room]
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": alert_text(a), "verbatim": True}}
        for a in shown
    ]
    hidden = len(ordered) - len(shown) + n.truncated_alerts
    if hidden:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"… and {hidden} more alerts not shown"}],
            }
        )
    if footer:
        blocks.append(footer)
    payload: dict[str, Any] = {
        "text": truncate(escape(f"{emoji} {head}"), MAX_SECTION_TEXT),
        "blocks": blocks,
    }
    if s.channel:
        payload["channel"] = s.channel
    if s.username:
        payload["username"] = s.username
    return payload


class SlackNotifier:
    def __init__(self, config: NotifierConfig, session: requests.Session) -> None:
        assert isinstance(config.settings, SlackSettings)
        self.name = config.name
        self.send_resolved = config.send_resolved
        self._settings = config.settings
        self._timeout = config.timeout
        self._session = session
        prepare(session)  # every call under one deadline

    def send(self, notification: Notification) -> None:
        body = json.dumps(slack_payload(notification, self._settings), ensure_ascii=False).encode()
        post(
            self._session,
            self._settings.webhook_url,
            body,
            {"Content-Type": "application/json"},
            self._timeout,
        )
