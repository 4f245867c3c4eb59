"""The alertmanager notifier: push alerts to every Alertmanager of a cluster (API v2).

As Prometheus does: firing alerts are re-sent every `resend_interval` with `endsAt` a few
intervals ahead (so Alertmanager resolves them by itself if this host goes silent), and
resolved alerts carry their resolve time. `endsAt` is computed at send time, so a push delayed
in the outbox never marks a firing alert resolved.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from alerter.errors import NotifyError
from alerter.notifiers.amjson import alertmanager_alert
from alerter.notifiers.config import AlertmanagerSettings, NotifierConfig
from alerter.notifiers.delivery import post, prepare
from alerter.notifiers.model import Notification, rfc3339
from alerter.protocols import Clock

VALIDITY_FACTOR = 4  # Prometheus: endsAt = now + 4 x resend delay


def alertmanager_payload(
    n: Notification, now: float, resend_interval: float
) -> list[dict[str, Any]]:
    valid_until = now + VALIDITY_FACTOR * resend_interval
    return [alertmanager_alert(a, rfc3339(valid_until)) for a in n.alerts]


class AlertmanagerNotifier:
    def __init__(
        self,
        config: NotifierConfig,
        session: requests.Session,
        clock: Clock,
        urls: tuple[str, ...] | None = None,
    ) -> None:
        assert isinstance(config.settings, AlertmanagerSettings)
        self.config = config
        self.urls = urls if urls is not None else config.settings.urls
        self.name = config.name
        self.send_resolved = True  # Alertmanager must hear about resolves
        self._settings = config.settings
        self._timeout = config.timeout
        self._session = session
        prepare(session)  # every call under one deadline
        self._clock = clock

    def for_url(self, url: str, session: requests.Session) -> AlertmanagerNotifier:
        """The same notifier for one Alertmanager of the cluster (the dispatcher feeds each
        URL on its own lane)."""
        session.headers.update(self._session.headers)
        return AlertmanagerNotifier(self.config, session, self._clock, (url,))

    def send(self, notification: Notification) -> None:
        """POST to each of `urls` (one, when the dispatcher gives each URL its own lane).
        A retryable failure retries the whole push: Alertmanager deduplicates, and a
        duplicate is better than a loss."""
        body = json.dumps(
            alertmanager_payload(notification, self._clock.now(), self._settings.resend_interval),
            ensure_ascii=False,
        ).encode()
        errors: list[NotifyError] = []
        for url in self.urls:
            try:
                post(
                    self._session,
                    f"{url}/api/v2/alerts",
                    body,
                    {"Content-Type": "application/json"},
                    self._timeout,
                )
            except NotifyError as e:
                errors.append(e)
        if errors:
            raise NotifyError(
                "; ".join(str(e) for e in errors),
                retry=any(e.retry for e in errors),
                retry_after=max(
                    (e.retry_after for e in errors if e.retry_after is not None), default=None
                ),
            )
