"""The outbox's lanes: what each sender thread serves (a notifier, or one URL of an
alertmanager notifier), its name in the outbox and the logs, and how it backs off."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from alerter.notifiers import delivery
from alerter.notifiers.alertmanager import AlertmanagerNotifier
from alerter.notifiers.config import AlertmanagerSettings, NotifierConfig
from alerter.protocols import Notifier


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5
    factor: float = 1.5
    cap: float = 60.0
    jitter: float = 0.5  # the delay is multiplied by a random factor in [1 - jitter, 1 + jitter]

    def delay(self, attempts: int, rnd: random.Random) -> float:
        base = min(self.cap, self.initial * self.factor ** max(0, attempts - 1))
        return min(self.cap, base * rnd.uniform(1 - self.jitter, 1 + self.jitter))


DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True, slots=True)
class Lane:
    """What a worker needs to know about its notifier."""

    name: str  # the notifier's config name (metrics, logs)
    notifier: Notifier
    max_age: float
    timeout: float
    supersede: bool = False  # skip a row that later rows of its group cover (see above)


def lane_id(notifier: str, url: str | None = None) -> str:
    """A lane's name in the outbox and the logs: the notifier's, and for one Alertmanager of
    several its URL without credentials or query (a password in the URL stays out of the logs,
    and a changed one keeps the lane and its queue)."""
    if url is None:
        return notifier
    u = urlsplit(url)
    port = f":{u.port}" if u.port else ""
    return f"{notifier}@{u.scheme}://{u.hostname or ''}{port}{u.path}"


def renamed(lid: str) -> str:
    """The lane id a stored one has now (ids were once the whole URL, credentials included)."""
    name, at, url = lid.partition("@")
    return lane_id(name, url) if at else lid


def make_lanes(
    configs: Mapping[str, NotifierConfig], notifiers: Mapping[str, Notifier]
) -> tuple[dict[str, Lane], dict[str, list[str]], list[requests.Session]]:
    """The lanes of these notifiers (one per URL of an Alertmanager cluster, each with a
    session of its own), the lane ids of each notifier, and the sessions made for them."""
    lanes: dict[str, Lane] = {}
    of_notifier: dict[str, list[str]] = {}
    sessions: list[requests.Session] = []
    for name, cfg in configs.items():
        n = notifiers[name]
        if isinstance(n, AlertmanagerNotifier) and len(n.urls) > 1:
            parts: dict[str, Notifier] = {}
            for url in n.urls:
                session = delivery.Session()
                sessions.append(session)
                parts[lane_id(name, url)] = n.for_url(url, session)
        else:
            parts = {lane_id(name): n}
        of_notifier[name] = list(parts)
        for lid, part in parts.items():
            # an Alertmanager holds the latest state of each alert: an older push is noise
            latest = isinstance(cfg.settings, AlertmanagerSettings)
            lanes[lid] = Lane(name, part, cfg.max_age, cfg.timeout, latest)
    return lanes, of_notifier, sessions
