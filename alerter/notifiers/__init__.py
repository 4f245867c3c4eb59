"""Notifiers: console, Slack, webhook, Alertmanager, email, PagerDuty. Payload builders are pure functions; each
notifier object holds the `requests.Session` it was given and implements protocols.Notifier."""

from __future__ import annotations

from typing import TextIO

import requests

from alerter.notifiers.alertmanager import AlertmanagerNotifier
from alerter.notifiers.config import NotifierConfig
from alerter.notifiers.console import ConsoleNotifier
from alerter.notifiers.mail import EmailNotifier
from alerter.notifiers.model import Notification, NotifiedAlert
from alerter.notifiers.pagerduty import PagerDutyNotifier
from alerter.notifiers.slack import SlackNotifier
from alerter.notifiers.webhook import WebhookNotifier
from alerter.protocols import Clock, Notifier

__all__ = ["Notification", "NotifiedAlert", "build_notifier"]


def build_notifier(
    config: NotifierConfig, session: requests.Session, clock: Clock, stream: TextIO | None = None
) -> Notifier:
    """The notifier for a validated config; the types match config.NOTIFIER_TYPES."""
    if config.type == "console":
        return ConsoleNotifier(config, stream)
    if config.type == "slack":
        return SlackNotifier(config, session)
    if config.type == "webhook":
        return WebhookNotifier(config, session)
    if config.type == "alertmanager":
        return AlertmanagerNotifier(config, session, clock)
    if config.type == "email":
        return EmailNotifier(config)
    if config.type == "pagerduty":
        return PagerDutyNotifier(config, session)
    raise ValueError(f"unknown notifier type {config.type!r}")
