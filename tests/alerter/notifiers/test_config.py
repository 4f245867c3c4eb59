"""Notifier config: types, defaults, *_file secrets read at load, template checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.core.yamlsource import SourceError
from alerter.notifiers.config import AlertmanagerSettings, SlackSettings, WebhookSettings
from tests.alerter.dispatch.helpers import notifier_config


def test_slack_reads_url_from_file_and_defaults_send_resolved_false(tmp_path: Path) -> None:
    (tmp_path / "url").write_text("https://hooks.slack.test/T/B/x\n")
    c = notifier_config("{name: s, type: slack, webhook_url_file: url, channel: '#ops'}", tmp_path)
    assert isinstance(c.settings, SlackSettings)
    assert c.settings.webhook_url == "https://hooks.slack.test/T/B/x"
    assert c.send_resolved is False


def test_webhook_defaults_send_resolved_true_and_reads_hmac_secret(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("abc\n")
    c = notifier_config(
        "{name: h, type: webhook, url: 'http://x', hmac_secret_file: secret}", tmp_path
    )
    assert isinstance(c.settings, WebhookSettings)
    assert c.settings.hmac_secret == b"abc"
    assert c.send_resolved is True


def test_unreadable_secret_file_is_a_config_error_with_position(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"c.yaml:1:\d+: webhook_url_file: cannot read .*missing"):
        notifier_config("{name: s, type: slack, webhook_url_file: missing}", tmp_path)


def test_bad_body_template_is_reported_at_load() -> None:
    with pytest.raises(SourceError, match="body: template"):
        notifier_config("{name: h, type: webhook, url: 'http://x', body: '{{ alerts[0].nope.x }}'}")
    with pytest.raises(SourceError, match="syntax error"):
        notifier_config("{name: h, type: webhook, url: 'http://x', body: '{{ '}")


def test_alertmanager_needs_urls_and_unknown_keys_are_errors() -> None:
    c = notifier_config("{name: am, type: alertmanager, urls: ['http://a:9093/']}")
    assert isinstance(c.settings, AlertmanagerSettings) and c.settings.urls == ("http://a:9093",)
    with pytest.raises(SourceError, match="missing required key 'urls'"):
        notifier_config("{name: am, type: alertmanager}")
    with pytest.raises(SourceError, match="unknown key 'chanel'"):
        notifier_config("{name: s, type: slack, webhook_url: 'http://x', chanel: '#x'}")
