"""The values that flow from collectors to the rules engine: defined with the engine, in
rules/events.py (one type per concept, shared by the daemon, `alerter test` and replay)."""

from alerter.rules.events import EMPTY, Event, LogBatch, LogEvent, ParseLine, Sample

__all__ = ["EMPTY", "Event", "LogBatch", "LogEvent", "ParseLine", "Sample"]
