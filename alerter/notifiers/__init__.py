"""Notifiers: console, Slack, webhook, Alertmanager."""
