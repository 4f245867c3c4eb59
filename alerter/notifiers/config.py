"""Parse the `notifiers:` section into validated, typed settings.

Secrets given as `*_file` are read here, at load (alerter.config.secrets); `${VAR}` expansion is
done by MapReader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alerter.config.secrets import headers as secret_headers
from alerter.config.secrets import secret as read_secret
from alerter.core.yamlsource import MapReader, Mark
from alerter.notifiers.amjson import check_body_template

NOTIFIER_TYPES = ("console", "slack", "webhook", "alertmanager", "email", "pagerduty")

# Alertmanager's defaults: webhook and PagerDuty send resolved notifications, Slack and email not.
_SEND_RESOLVED_DEFAULT = {
    "console": True,
    "slack": False,
    "webhook": True,
    "alertmanager": True,
    "email": False,
    "pagerduty": True,
}
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    pass


@dataclass(frozen=True, slots=True)
class SlackSettings:
    webhook_url: str
    channel: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # Jinja template; None: Alertmanager webhook JSON
    content_type: str = "application/json"
    hmac_secret: bytes | None = None
    max_alerts: int = 0  # 0: no limit; beyond it, alerts are dropped and counted in truncatedAlerts


@dataclass(frozen=True, slots=True)
class AlertmanagerSettings:
    urls: tuple[str, ...]
    resend_interval: float = 60.0


@dataclass(frozen=True, slots=True)
class EmailSettings:
    to: tuple[str, ...]
    sender: str  # `from:`
    host: str
    port: int
    hello: str = "localhost"
    username: str | None = None
    password: str | None = None
    require_tls: bool = True
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    html: bool = True
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PagerDutySettings:
    routing_key: str
    url: str = PAGERDUTY_URL
    severity: str = "error"  # when the group's common severity label is not one PagerDuty knows
    source: str | None = None
    component: str | None = None
    group: str | None = None
    klass: str | None = None  # `class:`


Settings = (
    ConsoleSettings
    | SlackSettings
    | WebhookSettings
    | AlertmanagerSettings
    | EmailSettings
    | PagerDutySettings
)


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    name: str
    type: str
    mark: Mark
    settings: Settings = field(default_factory=ConsoleSettings)
    send_resolved: bool = True
    timeout: float = 10.0  # a whole HTTP call: connect, send, headers and body
    max_age: float = 3600.0  # a notification older than this is dropped, not sent


_COMMON = ("name", "type", "send_resolved", "timeout", "max_age")


def parse_notifier(r: MapReader, base_dir: Path) -> NotifierConfig | None:
    name = r.str("name", required=True)
    ntype = r.choice("type", NOTIFIER_TYPES, required=True)
    if ntype is None:
        r.done(extra_known=tuple(r.keys()))  # the type error is enough; don't pile on
        return None
    send_resolved = r.bool("send_resolved", _SEND_RESOLVED_DEFAULT[ntype])
    timeout = r.duration("timeout", 10.0)
    max_age = r.duration("max_age", 3600.0)
    for key, v in (("timeout", timeout), ("max_age", max_age)):
        if v <= 0:
            r.problems.add(r.raw(key) or r.node, f"{key}: must be greater than 0")
    settings: Settings | None
    if ntype == "console":
        settings = ConsoleSettings()
    elif ntype == "slack":
        settings = _slack(r, base_dir)
    elif ntype == "webhook":
        settings = _webhook(r, base_dir)
    elif ntype == "email":
        settings = _email(r, base_dir)
    elif ntype == "pagerduty":
        settings = _pagerduty(r, base_dir)
    else:
        settings = _alertmanager(r)
    r.done()
    if name is None:
        return None
    # Invalid settings are already reported; keep the name so routes naming it don't add
    # a misleading "no notifier named ..." (the config as a whole is refused anyway).
    return NotifierConfig(
        name, ntype, r.mark, settings or ConsoleSettings(), send_resolved, timeout, max_age
    )


def _url(r: MapReader, key: str, base_dir: Path) -> str | None:
    url = read_secret(r, key, base_dir, required=True)
    if url is not None and not url.startswith(("http://", "https://")):
        r.problems.add(
            r.raw(key) or r.raw(f"{key}_file") or r.node,
            f"{key}: expected an http:// or https:// URL",
        )
        return None
    return url


def _slack(r: MapReader, base_dir: Path) -> SlackSettings | None:
    url = _url(r, "webhook_url", base_dir)
    channel = r.str("channel")
    username = r.str("username")
    return None if url is None else SlackSettings(url, channel, username)


def _webhook(r: MapReader, base_dir: Path) -> WebhookSettings | None:
    url = _url(r, "url", base_dir)
    headers = secret_headers(r, base_dir)
    body = r.str("body")
    content_type = r.str("content_type", "application/json")
    secret = read_secret(r, "hmac_secret", base_dir, required=False)
    max_alerts = r.int("max_alerts", 0, minimum=0)
    if body is not None:
        problem = check_body_template(body)
        if problem:
            r.problems.add(r.raw("body") or r.node, f"body: {problem}")
            return None
    if url is None:
        return None
    return WebhookSettings(
        url,
        headers,
        body,
        content_type,
        secret.encode() if secret is not None else None,
        max_alerts,
    )


def _alertmanager(r: MapReader) -> AlertmanagerSettings | None:
    urls = r.str_list("urls", (), required=True)
    resend = r.duration("resend_interval", 60.0)
    if resend <= 0:
        r.problems.add(
            r.raw("resend_interval") or r.node, "resend_interval: must be greater than 0"
        )
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad:
        r.problems.add(
            r.raw("urls") or r.node, f"urls: expected http:// or https:// URLs, got {bad[0]!r}"
        )
        return None
    if not urls:
        given = r.raw("urls")
        if given is not None and isinstance(given.value, list):  # (else told: not a list)
            r.problems.add(given, "urls: list at least one Alertmanager URL")
        return None
    return AlertmanagerSettings(tuple(u.rstrip("/") for u in urls), resend)


def _email(r: MapReader, base_dir: Path) -> EmailSettings | None:
    to = r.str_list("to", (), required=True)
    sender = r.str("from", required=True)
    smarthost = r.str("smarthost", required=True)
    hello = r.str("hello", "localhost")
    username = r.str("auth_username")
    password = read_secret(r, "auth_password", base_dir, required=False)
    require_tls = r.bool("require_tls", True)
    html = r.bool("html", True)
    headers = r.str_map("headers", {})
    tls = r.map("tls_config")
    ca_file, skip = None, False
    if tls is not None:
        ca_file = tls.str("ca_file")
        skip = tls.bool("insecure_skip_verify", False)
        tls.done()
        if ca_file is not None and not Path(ca_file).is_absolute():
            ca_file = str(base_dir / ca_file)
    if r.has("to") and not to:
        r.problems.add(r.raw("to") or r.node, "to: list at least one address")
    host, port = None, 0
    if smarthost is not None:
        h, sep, p = smarthost.rpartition(":")
        if not sep or not h or not p.isdigit() or not 0 < int(p) < 65536:
            r.problems.add(
                r.raw("smarthost") or r.node,
                f"smarthost: expected host:port (e.g. smtp.example.org:587), got {smarthost!r}",
            )
        else:
            host, port = h.strip("[]"), int(p)
    if password is not None and username is None:
        r.problems.add(
            r.raw("auth_password") or r.raw("auth_password_file") or r.node,
            "auth_password: set auth_username too",
        )
    if None in (sender, host) or not to:
        return None
    assert sender is not None and host is not None
    return EmailSettings(
        tuple(to),
        sender,
        host,
        port,
        hello,
        username,
        password,
        require_tls,
        ca_file,
        skip,
        html,
        headers,
    )


def _pagerduty(r: MapReader, base_dir: Path) -> PagerDutySettings | None:
    key = read_secret(r, "routing_key", base_dir, required=True)
    url = r.str("url", PAGERDUTY_URL)
    if not url.startswith(("http://", "https://")):
        r.problems.add(r.raw("url") or r.node, "url: expected an http:// or https:// URL")
    severity = r.choice("severity", ("critical", "error", "warning", "info")) or "error"
    source, component = r.str("source"), r.str("component")
    group, klass = r.str("group"), r.str("class")
    if key is None:
        return None
    return PagerDutySettings(key, url, severity, source, component, group, klass)
