"""The dispatcher: alert transitions -> route -> aggregation groups -> (silences, inhibition)
-> notifications committed to the outbox, which worker threads send.

`handle` and `tick` run on the daemon's main loop; sending never does. The outbox rows a
flush produces are written in one transaction with the group state that produced them, so a
restart neither loses nor repeats a notification.

In the daemon that transaction is the checkpoint's (`alerter/runtime/checkpoint.py`): `write` adds the
changed groups and the new outbox rows to it (alerter/dispatch/dispatchwrites.py), with the
engine state and the collector positions of the same batches, and `written` wakes the senders
once it is durable (or, when the store refused it, hands the notifications to the outbox's
memory so they still go out). Standalone (`own_commits=True`, as tests build it) the
dispatcher commits by itself: at once when a flush produced notifications, else within
PERSIST_INTERVAL and at stop.
"""

from __future__ import annotations

import collections
import heapq
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
import structlog

from alerter.dispatch.config import InhibitRuleConfig, RouteConfig
from alerter.dispatch.dispatchwrites import GROUPS_NAMESPACE, Writing, write_changes
from alerter.dispatch.groups import AggregationGroup, Timing
from alerter.dispatch.inhibit import Inhibitor
from alerter.dispatch.lanes import DEFAULT_BACKOFF, Backoff, make_lanes
from alerter.dispatch.outbox import Outbox
from alerter.dispatch.render import renderer
from alerter.dispatch.routing import group_labels, match_routes, walk
from alerter.dispatch.silences import Silences
from alerter.dispatch.timeintervals import NONE as NO_INTERVALS
from alerter.dispatch.timeintervals import TimeIntervals
from alerter.notifiers.config import AlertmanagerSettings, NotifierConfig
from alerter.notifiers.model import Notification, NotifiedAlert, labelset_str
from alerter.protocols import Clock, Dispatcher, Notifier
from alerter.rules.alert import Alert, Transition
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

SILENCE_GC_INTERVAL = 60.0
# Group changes that produce no notification are written at most this often (and at stop):
# rewriting a big group on every transition would cost O(alerts) per alert.
PERSIST_INTERVAL = 1.0
# `handle` calls its `alive` (the main loop's watchdog ping) every this many transitions and
# groups flushed: a storm of distinct keys gave one handle 75k transitions (18 s).
ALIVE_EVERY = 1000
# One flush takes at most this long on the main loop (then the groups left wait for the next
# tick, 0.1 s later): 64k groups due at once took 20 s of it, and their checkpoint 11 s more.
FLUSH_SLICE = 0.25


def _nothing() -> None:
    pass


class NotificationDispatcher:
    """Implements protocols.Dispatcher; `silences` is the silence store the API manages."""

    def __init__(
        self,
        *,
        route: RouteConfig,
        inhibit_rules: Sequence[InhibitRuleConfig],
        notifiers: Mapping[str, tuple[NotifierConfig, Notifier]],
        store: StateStore,
        metrics: Metrics,
        clock: Clock,
        action_notes: Callable[[str], list[str]],
        external_url: str,
        backoff: Backoff = DEFAULT_BACKOFF,
        sessions: Sequence[requests.Session] = (),
        own_commits: bool = True,
        time_intervals: TimeIntervals = NO_INTERVALS,
    ) -> None:
        self._route = route
        self._intervals = time_intervals
        self._routes = {r.id: r for r in walk(route)}
        self._timings: dict[str, Timing] = {}  # route id -> its groups' timers
        self._configs = {name: cfg for name, (cfg, _) in notifiers.items()}
        self._notifiers = {name: n for name, (_, n) in notifiers.items()}
        self._store = store
        self.clock = clock
        self._action_notes = action_notes
        self._external_url = external_url.rstrip("/")
        self._sessions = list(sessions)
        self._inhibitor = Inhibitor(inhibit_rules)
        self._lock = threading.RLock()  # persist may run inside handle/tick
        self._firing: dict[str, Alert] = {}
        self.firing_version = 0  # changes when an alert is held as firing or let go
        self._groups: dict[str, AggregationGroup] = {}
        # (next_flush, group id), lazily cleaned: an entry whose time is not the group's
        # next_flush any more is skipped. Keeps handle/tick O(log groups), not O(groups).
        self._timers: list[tuple[float, str]] = []
        self._next_gc = 0.0
        self._next_persist = 0.0
        self._dirty: set[str] = set()  # group ids whose saved state is out of date
        self._removed: set[str] = set()  # group ids to delete from the store
        self._own_commits = own_commits
        self._metrics = metrics
        self._unsaved: list[Notification] = []  # produced, not yet in a committed transaction
        # What the transaction in flight took (write -> written): notifications, groups, spill.
        self._writing: Writing | None = None
        # The store refused the last write: new notifications are held in the outbox's memory
        # (and go out) at once, not at the next try, which may be up to 30 s away.
        self._refused = False
        self.silences = Silences(store)
        self._load_groups(self._store.kv_items(GROUPS_NAMESPACE))
        lanes, self._lanes, more = make_lanes(self._configs, self._notifiers)
        self._sessions += more  # (of an Alertmanager cluster's URLs: closed at stop)
        # notifications the outbox gave up on (its workers append): their groups tell again
        self._undelivered: collections.deque[Notification] = collections.deque()
        self._outbox = Outbox(store, lanes, metrics, clock, backoff, self._undelivered.append)
        self._outbox.start()

    # --- protocols.Dispatcher --------------------------------------------------------------

    def handle(
        self, transitions: Sequence[Transition], now: float, alive: Callable[[], None] = _nothing
    ) -> None:
        with self._lock:
            for i, t in enumerate(transitions):
                if i % ALIVE_EVERY == ALIVE_EVERY - 1:
                    alive()
                a = t.alert
                if a.state == "firing":
                    self.firing_version += a.fingerprint not in self._firing
                    self._firing[a.fingerprint] = a
                elif a.state == "resolved":
                    self.firing_version += self._firing.pop(a.fingerprint, None) is not None
                else:
                    continue  # pending alerts are never sent
                for route in match_routes(self._route, a.labels):
                    gid, g = self._group_for(route, a.labels, now)
                    due = g.next_flush
                    g.add(a, now)
                    if g.next_flush != due:
                        heapq.heappush(self._timers, (g.next_flush, gid))
                    self._dirty.add(gid)
                    self._removed.discard(gid)
            self._flush_due(now, alive)

    def tick(self, now: float) -> None:
        with self._lock:
            self._flush_due(now)
            self._metrics.aggregation_groups.set(len(self._groups))
        if now >= self._next_gc:
            self._next_gc = now + SILENCE_GC_INTERVAL
            self.silences.gc(now)

    def stop(self, wait: bool = True) -> None:
        """Stop sending. Standalone, what changed is committed first; in the daemon the
        checkpoint has written it. wait=False leaves a send in flight to end on its own."""
        if self._own_commits:
            self.persist(self.clock.now())
        self._outbox.stop(wait)
        for s in self._sessions:
            s.close()

    def firing(self) -> list[Alert]:
        with self._lock:
            return list(self._firing.values())

    def refresh(self, firing: Sequence[Alert]) -> None:
        """As Alertmanager holds the alert Prometheus last re-sent: a held firing alert is held
        as the engine has it now (a count's summary grows), for the API and for its groups'
        next notification (a repeat), which renders each firing alert as held here. Not
        written to the store: after a restart the engine's first tick tells it again."""
        with self._lock:
            held = self._firing
            for a in firing:
                if a.fingerprint in held:
                    held[a.fingerprint] = a

    # --- the checkpoint's part (alerter.runtime.checkpoint.Durable) -------------------------------------

    def dirty(self) -> bool:
        """Something to write: groups changed, notifications produced, or held in memory."""
        return bool(self._unsaved or self._dirty or self._removed or self._outbox.held())

    def write(self, db: sqlite3.Connection, now: float, alive: Callable[[], None]) -> None:
        """Add what changed since the last write to the caller's transaction (a storm's
        checkpoint wrote 75k groups and 225k notifications: `alive` between each thousand)."""
        with self._lock:
            out, self._unsaved = self._unsaved, []
            dirty, self._dirty = self._dirty, set()
            removed, self._removed = self._removed, set()
            spilled = self._outbox.spill()
            self._writing = (out, dirty, removed, spilled)
            write_changes(db, self._groups, self._writing, self._lanes, now, alive, ALIVE_EVERY)

    def written(self, ok: bool) -> None:
        """The transaction of the last `write` committed (ok), or the store refused it (with or
        without a `write` first): then the notifications go out from the outbox's memory and
        the group state waits for a later checkpoint."""
        with self._lock:
            out, dirty, removed, spilled = self._writing or ([], set(), set(), [])
            self._writing = None
            self._refused = not ok
            if not ok:
                out, self._unsaved = out + self._unsaved, []
                self._dirty |= {gid for gid in dirty if gid in self._groups}
                self._removed |= removed - set(self._groups)
                self._outbox.unspill(spilled)
                self._hold(out)
                return
        self._outbox.update_queue_length()
        for receiver in {n.receiver for n in out} | {r.lane for r in spilled}:
            for lid in self._lanes.get(receiver, [receiver]):
                self._outbox.wake(lid)

    def _hold(self, out: list[Notification]) -> None:
        """Send from the outbox's memory; the next commit that succeeds writes what is left."""
        now = self.clock.now()  # (the outbox's clock decides when a row is due)
        for n in out:
            for lid in self._lanes[n.receiver]:
                self._outbox.hold(lid, n, now)

    def persist(self, now: float) -> None:
        """Commit what changed in a transaction of its own (standalone use)."""
        self._next_persist = now + PERSIST_INTERVAL
        if not self.dirty():
            return
        try:
            with self._store.transaction() as db:
                self.write(db, now, _nothing)
        except sqlite3.Error as e:
            self._metrics.state_errors.labels("dispatch").inc()
            log.error("state_write_failed", part="dispatch", error=str(e))
            self.written(False)
            return
        self.written(True)

    def take_over(self, old: Dispatcher) -> None:
        """A reload: the old config's dispatcher may hold what the store lacks, when its last
        commit was refused (disk full, read-only): its groups, and notifications held in
        memory. They are carried over, so such a reload loses no notification and does not
        hold an alert that resolved meanwhile as firing (as the store's older groups would).
        After a commit that took everything there is nothing to carry."""
        if not isinstance(old, NotificationDispatcher) or not old.dirty():
            return
        with old._lock:
            groups = {gid: g.to_dict() for gid, g in old._groups.items()}
            unsent, old._unsaved = old._unsaved, []
        with self._lock:
            stored = set(self._groups)
            self._groups.clear()
            self._firing.clear()
            self.firing_version += 1
            self._timers.clear()
            self._load_groups(groups)
            self._dirty |= set(self._groups)  # the store's copies are older
            self._removed = (self._removed | stored) - set(self._groups)
            self._unsaved.extend(n for n in unsent if n.receiver in self._lanes)
        self._outbox.take_over(old._outbox)
        log.info("dispatch_state_carried_over", groups=len(groups))

    # --- views for the API -------------------------------------------------------------------

    def status(self, alert: Alert, now: float) -> dict[str, object]:
        """Alertmanager's alert status: silencedBy (silence ids), inhibitedBy (fingerprints)."""
        silenced = self.silences.muted_by(alert.labels, now)
        with self._lock:
            inhibited = self._inhibitor.inhibited_by(
                alert.labels, alert.fingerprint, self._firing.values()
            )
        return {
            "state": "suppressed" if silenced or inhibited else "active",
            "silencedBy": silenced,
            "inhibitedBy": inhibited,
        }

    def generator_url(self, alert: Alert) -> str:
        """The alert on the web page (`GET /`), as an alert's generatorURL."""
        return f"{self._external_url}/#alert-{alert.fingerprint}"

    def routes_for(self, labels: Mapping[str, str]) -> list[RouteConfig]:
        """The routes these labels take (their receivers are Alertmanager's alert receivers)."""
        return match_routes(self._route, labels)

    def pending_notifications(self) -> int:
        return self._outbox.pending()

    # --- internals ----------------------------------------------------------------------------

    def _timing(self, route: RouteConfig) -> Timing:
        """The route's timers, one object for all its groups. An Alertmanager does the
        grouping: push at once, re-push every resend_interval."""
        if route.id not in self._timings:
            s = self._configs[route.receiver].settings
            self._timings[route.id] = (
                Timing(0.0, 0.0, s.resend_interval)
                if isinstance(s, AlertmanagerSettings)
                else Timing(route.group_wait, route.group_interval, route.repeat_interval)
            )
        return self._timings[route.id]

    def _group_for(
        self, route: RouteConfig, labels: Mapping[str, str], now: float
    ) -> tuple[str, AggregationGroup]:
        glabels = group_labels(route, labels)
        gid = f"{route.id}|{route.receiver}|{labelset_str(glabels)}"
        g = self._groups.get(gid)
        if g is None:
            timing = self._timing(route)
            g = AggregationGroup(
                route.id, route.key, route.receiver, glabels, timing, now + timing.group_wait
            )
            self._groups[gid] = g
            heapq.heappush(self._timers, (g.next_flush, gid))
        return gid, g

    def _muted(self, now: float) -> Callable[[Alert], bool]:
        firing = list(self._firing.values())

        def muted(a: Alert) -> bool:
            return bool(self.silences.muted_by(a.labels, now)) or bool(
                self._inhibitor.inhibited_by(a.labels, a.fingerprint, firing)
            )

        return muted

    def _render(self, now: float) -> Callable[[Alert], NotifiedAlert]:
        return renderer(now, self._firing, self._action_notes, self.generator_url)

    def _forget_undelivered(self) -> None:
        """A group whose last notification was given up on (refused, or past max_age) has
        told its receiver nothing: its next flush tells again, as Alertmanager's notification
        log, written only after a send succeeds, would have it (not `repeat_interval` later)."""
        while self._undelivered:
            n = self._undelivered.popleft()
            for gid, g in self._groups.items():
                told = g.sent
                ours = g.key == n.group_key and g.receiver == n.receiver
                if ours and told is not None and told.time <= n.time:
                    g.sent = None
                    self._dirty.add(gid)
                    log.info("notification_told_again_at_next_flush", group_key=g.key)

    def _flush_due(self, now: float, alive: Callable[[], None] = _nothing) -> None:
        self._forget_undelivered()
        out: list[Notification] = []
        if self._timers and self._timers[0][0] <= now:
            self._flush(now, out, alive)
        if self._refused:
            self._hold(out)
        else:
            self._unsaved.extend(out)
        if self._own_commits and (out or now >= self._next_persist):
            self.persist(now)

    def _flush(self, now: float, out: list[Notification], alive: Callable[[], None]) -> None:
        """Flush the groups that are due, oldest first, for at most FLUSH_SLICE seconds of the
        main loop: those left are still due, and the next tick (or handle) goes on with them.

        Each notification is logged at debug level, and one info line per flush counts them
        by receiver: a line each cost a storm of 75k transitions a quarter of its time."""
        muted, render = self._muted(now), self._render(now)
        until = self.clock.monotonic() + FLUSH_SLICE
        flushed = 0
        # (a group flushed is due again only after `now`: groups.flush)
        while self._timers and self._timers[0][0] <= now:
            if flushed and self.clock.monotonic() >= until:
                log.debug("flush_sliced", flushed=flushed)
                break  # the groups left are still due: the next flush takes them first
            t, gid = heapq.heappop(self._timers)
            g = self._groups.get(gid)
            if g is None or g.next_flush != t:
                continue  # a stale timer: the group left, or was rescheduled
            flushed += 1
            if flushed % ALIVE_EVERY == 0:
                alive()
            self._flush_group(gid, g, now, muted, render, out)
        if out:
            receivers = collections.Counter(n.receiver for n in out)
            log.info("notifications_queued", count=len(out), receivers=dict(receivers))

    def _flush_group(
        self,
        gid: str,
        g: AggregationGroup,
        now: float,
        muted: Callable[[Alert], bool],
        render: Callable[[Alert], NotifiedAlert],
        out: list[Notification],
    ) -> None:
        sent_before, size_before = g.sent, len(g.alerts)
        route = self._routes[g.route_id]
        quiet = (route.mute_time_intervals or route.active_time_intervals) and (
            self._intervals.route_muted(route.mute_time_intervals, route.active_time_intervals, now)
        )
        n = g.flush(
            now,
            muted,
            self._notifiers[g.receiver].send_resolved,
            render,
            self._external_url,
            route_muted=bool(quiet),
        )
        if n is not None:
            out.append(n)
            log.debug(
                "notification_queued",
                receiver=g.receiver,
                group_key=g.key,
                status=n.status,
                alerts=len(n.alerts),
            )
        if not g.alerts:
            del self._groups[gid]
            self._removed.add(gid)
            self._dirty.discard(gid)
        else:
            heapq.heappush(self._timers, (g.next_flush, gid))
            if g.sent is not sent_before or len(g.alerts) != size_before:
                self._dirty.add(gid)

    def _load_groups(self, saved: Mapping[str, Any]) -> None:
        """Groups saved by an earlier run (or held by the dispatcher a reload replaces); those
        the current route tree no longer has are dropped."""
        stale: list[str] = []
        for gid, d in saved.items():
            route = self._routes.get(d.get("route_id", ""))
            try:
                if (
                    route is None
                    or route.receiver != d["receiver"]
                    or route.receiver not in self._configs
                ):
                    raise ValueError("route changed")
                g = AggregationGroup.from_dict(d, self._timing(route))
                g.route_key = route.key
                if any(group_labels(route, a.labels) != g.labels for a in g.alerts.values()):
                    raise ValueError("grouping changed")
            except (KeyError, TypeError, ValueError) as e:
                log.info("group_state_dropped", group=gid, reason=str(e))
                stale.append(gid)
                continue
            self._groups[gid] = g
            heapq.heappush(self._timers, (g.next_flush, gid))
            for a in g.alerts.values():
                if a.state == "firing":
                    self._firing[a.fingerprint] = a
        self.firing_version += 1
        self._removed.update(stale)  # deleted by the next write
