"""What the runner tells of one alert's actions: its records in the action history, with the
refusals by the global cap that the row of another alert counts, and the lines its
notifications carry (what was done, or would be, in its firing)."""

from __future__ import annotations

from collections.abc import Mapping

from alerter.actions import history as h
from alerter.actions.config import ActionConfig
from alerter.actions.firings import Firings
from alerter.actions.notes import note
from alerter.actions.outcomes import OutcomeRecorder
from alerter.protocols import Clock


class AlertRecords:
    def __init__(
        self,
        actions: Mapping[str, ActionConfig],
        *,
        history_db: h.ActionHistory,
        recorder: OutcomeRecorder,
        firings: Firings,
        clock: Clock,
    ) -> None:
        self.actions = actions
        self.history_db = history_db
        self.recorder = recorder
        self.firings = firings
        self.clock = clock

    def notes(self, fingerprint: str) -> list[str]:
        """Lines for the alert's notifications: what was done (or would be) in this firing."""
        since = self.firings.since(fingerprint)
        if since is None:
            since = self.clock.now() - 86400.0
        out = []
        for rec in reversed(self.records(fingerprint, since, 20)):
            action = self.actions.get(rec.action)
            n = 0
            if action is not None:
                runs = self.history_db.runs(
                    rec.action, rec.target, rec.time - action.limit.within, rec.dry_run
                )
                n = sum(1 for t in runs if t <= rec.time)
            out.append(note(rec, action, n))
        return out

    def records(self, fingerprint: str | None, since: float | None, limit: int) -> list[h.Record]:
        """Newest first."""
        records = self.history_db.records(fingerprint, since=since, limit=limit)
        if fingerprint is None:
            return records
        refused = [
            r for r in self.recorder.refusals(fingerprint) if since is None or r.time >= since
        ]
        if not refused:
            return records
        return sorted(records + refused, key=lambda r: r.time, reverse=True)[:limit]
