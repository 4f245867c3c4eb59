"""Feedback actions: systemd units, signals, commands, collector throttles, with safety limits."""
