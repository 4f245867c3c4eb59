"""Sources of events: files, the journal, host metrics, scrapes, commands and HTTP probes."""
