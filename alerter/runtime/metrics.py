"""Every self-metric, defined in one place against a registry passed in.

Label values come from config names (collector, notifier, action, rule group), never from log
content, so cardinality is bounded by the config.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from alerter import __version__
from alerter.rules.alert import Alert


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.events = Counter(
            "alerter_events", "Events the rules engine has processed", ["collector"], registry=r
        )
        self.events_late = Counter(
            "alerter_events_late",
            "Lines older than the window of a rule of their collector when read (backlog after "
            "start_at: beginning or downtime, a wrong time zone): they counted for nothing in "
            "that rule (each line once, however many rules it was too old for)",
            ["collector"],
            registry=r,
        )
        self.events_dropped = Counter(
            "alerter_events_dropped",
            "Events dropped or degraded before or in the engine",
            ["collector", "reason"],
            registry=r,
        )
        self.collector_up = Gauge(
            "alerter_collector_up",
            "1 when the collector can read its source",
            ["collector"],
            registry=r,
        )
        self.collector_lag = Gauge(
            "alerter_collector_lag_seconds",
            "Seconds from the collector reading its last batch to the rules processing it "
            "(time spent on the bus; grows when the engine falls behind)",
            ["collector"],
            registry=r,
        )
        self.rule_evaluation_duration = Histogram(
            "alerter_rule_evaluation_duration_seconds",
            "Time spent evaluating a rule group on a tick",
            ["group"],
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=r,
        )
        self.alerts = Gauge("alerter_alerts", "Alerts by state", ["alertname", "state"], registry=r)
        self.notifications = Counter(
            "alerter_notifications", "Notification attempts", ["notifier", "outcome"], registry=r
        )
        self.notification_queue_length = Gauge(
            "alerter_notification_queue_length", "Notifications waiting in the outbox", registry=r
        )
        self.aggregation_groups = Gauge(
            "alerter_dispatcher_aggregation_groups",
            "Aggregation groups held (one per route, receiver and set of group_by values)",
            registry=r,
        )
        self.actions = Counter(
            "alerter_actions", "Action decisions", ["action", "outcome"], registry=r
        )
        self.bans = Gauge(
            "alerter_bans",
            "Bans in force in alerter's nftables table, by address family (ipv4, ipv6)",
            ["family"],
            registry=r,
        )
        self.config_last_reload_successful = Gauge(
            "alerter_config_last_reload_successful",
            "1 if the last config load or reload succeeded",
            registry=r,
        )
        self.config_last_reload_success_timestamp = Gauge(
            "alerter_config_last_reload_success_timestamp_seconds",
            "Time of the last successful config load",
            registry=r,
        )
        self.build_info = Info("alerter_build", "alerter build information", registry=r)
        self.build_info.info({"version": __version__})
        self.bus_length = Gauge(
            "alerter_bus_length", "Batches waiting on the event bus", registry=r
        )
        self.scheduler_jobs = Counter(
            "alerter_scheduler_jobs", "Scheduled job outcomes", ["job", "outcome"], registry=r
        )
        self.template_errors = Counter(
            "alerter_template_errors", "Template expansions that failed", ["group"], registry=r
        )
        self.rule_keys_evicted = Counter(
            "alerter_rule_keys_evicted",
            "Keys of a log rule dropped with their windows, by reason (max_keys: the least "
            "recently updated key, evicted past the rule's max_keys)",
            ["alertname", "reason"],
            registry=r,
        )
        self.state_errors = Counter(
            "alerter_state_errors",
            "Writes to the state store that failed (disk full, read-only, I/O error), by what wrote",
            ["operation"],
            registry=r,
        )
        self.main_loop_longest_gap = Gauge(
            "alerter_main_loop_longest_gap_seconds",
            "Longest time the main loop went without coming to its watchdog ping since start "
            "(between two turns, or two parts of a long handle of transitions)",
            registry=r,
        )
        self.internal_errors = Counter(
            "alerter_internal_errors",
            "Calls of the main loop into a part that raised (logged as part_failed)",
            ["part"],
            registry=r,
        )
        self.state_commit_duration = Histogram(
            "alerter_state_commit_duration_seconds",
            "Time to write one checkpoint (engine state, groups, outbox rows, positions)",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=r,
        )

    def set_alerts(self, alerts: Iterable[Alert]) -> None:
        """`alerter_alerts`: the alerts by name and state, those gone dropped."""
        self.set_alert_counts(collections.Counter((a.alertname, a.state) for a in alerts))

    def set_alert_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """`alerter_alerts` from the number of alerts by (name, state) (none: dropped)."""
        self.alerts.clear()
        for (name, state), n in counts.items():
            if n:
                self.alerts.labels(name, state).set(n)

    def collector_started(self, collector: str) -> None:
        """Its events series exists from the start, at 0: a rate over it, or an alert on it,
        reads 0 for a collector that has sent nothing yet, not no data (Prometheus's advice
        for labels known in advance)."""
        self.events.labels(collector)

    # alerter.collectors.base.CollectorStats
    def dropped(self, collector: str, reason: str, count: int = 1) -> None:
        self.events_dropped.labels(collector, reason).inc(count)

    def up(self, collector: str, is_up: bool) -> None:
        self.collector_up.labels(collector).set(1 if is_up else 0)
