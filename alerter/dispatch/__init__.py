"""Alert transitions -> notifications: routing, grouping, inhibition, silences, outbox."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from alerter import __version__
from alerter.dispatch.dispatcher import NotificationDispatcher
from alerter.dispatch.lanes import DEFAULT_BACKOFF, Backoff
from alerter.notifiers import build_notifier, delivery
from alerter.notifiers.config import NotifierConfig
from alerter.protocols import Clock, Notifier
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

if TYPE_CHECKING:
    from alerter.config.load import Config

__all__ = ["Backoff", "NotificationDispatcher", "build_dispatcher"]


def build_dispatcher(
    config: Config,
    store: StateStore,
    metrics: Metrics,
    clock: Clock,
    action_notes: Callable[[str], list[str]],
    backoff: Backoff = DEFAULT_BACKOFF,
    own_commits: bool = True,
) -> NotificationDispatcher:
    """The dispatcher for a loaded config, with one requests.Session per notifier."""
    notifiers: dict[str, tuple[NotifierConfig, Notifier]] = {}
    sessions = []
    for nc in config.notifiers:
        session = delivery.Session()
        session.headers["User-Agent"] = f"alerter/{__version__}"
        sessions.append(session)
        notifiers[nc.name] = (nc, build_notifier(nc, session, clock))
    external_url = (
        config.global_.external_url or f"http://{socket.gethostname()}:{config.server.port}"
    )
    return NotificationDispatcher(
        route=config.route,
        inhibit_rules=config.inhibit_rules,
        notifiers=notifiers,
        store=store,
        metrics=metrics,
        clock=clock,
        action_notes=action_notes,
        external_url=external_url,
        backoff=backoff,
        sessions=sessions,
        own_commits=own_commits,
        time_intervals=config.time_intervals,
    )
