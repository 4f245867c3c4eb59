"""Alert transitions -> notifications: routing, grouping, inhibition, silences, outbox."""
