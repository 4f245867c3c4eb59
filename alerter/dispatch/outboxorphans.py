"""The outbox's rows whose lane the config no longer has. At start, stored rows of a lane id
that was renamed (`lanes.renamed`) move to the new id; those of a notifier (or Alertmanager URL)
no longer configured cannot be sent: they are deleted, logged and counted as dropped, as the
rows a reload's outbox takes over for such a lane are."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

import structlog

from alerter.dispatch.lanes import Lane, renamed
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)


def drop_orphans(store: StateStore, lanes: Mapping[str, Lane], metrics: Metrics) -> None:
    """Rows for notifiers no longer in the config cannot be sent: say so and drop them."""
    try:
        rows = store.query("SELECT notifier, COUNT(*) FROM outbox GROUP BY notifier")
    except sqlite3.Error:
        return  # an unreadable store: nothing to look at now
    for lid, count in rows:
        if lid not in lanes and renamed(lid) in lanes:
            try:
                with store.transaction() as db:
                    db.execute(
                        "UPDATE outbox SET notifier = ? WHERE notifier = ?",
                        (renamed(lid), lid),
                    )
            except sqlite3.Error as e:
                log.warning("outbox_rename_failed", error=str(e), lane=renamed(lid))
            continue
        if lid not in lanes:
            dropped_lane(metrics, lid, count)
            try:
                with store.transaction() as db:
                    db.execute("DELETE FROM outbox WHERE notifier = ?", (lid,))
            except sqlite3.Error as e:
                metrics.state_errors.labels("outbox_delete").inc()
                log.warning("outbox_delete_failed", error=str(e), lane=lid)


def dropped_lane(metrics: Metrics, lid: str, count: int) -> None:
    """`count` rows of lane `lid`, whose notifier (or URL) is no longer configured, are dropped:
    say so and count them."""
    name = lid.partition("@")[0]
    log.error(
        "notifications_dropped",
        notifier=name,
        lane=renamed(lid),
        count=count,
        reason="notifier (or alertmanager URL) no longer configured",
    )
    metrics.notifications.labels(name, "dropped").inc(count)
