"""An alert as a flush sends it: `NotifiedAlert`, with the actions taken for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog

from alerter.notifiers.model import NotifiedAlert
from alerter.rules.alert import Alert

log = structlog.get_logger(__name__)


def renderer(
    now: float,
    firing: Mapping[str, Alert],
    action_notes: Callable[[str], list[str]],
    generator_url: Callable[[Alert], str],
) -> Callable[[Alert], NotifiedAlert]:
    """Render for one flush at `now`: a firing alert as `firing` holds it now (the engine's
    latest value, `refresh`); each alert's action notes read once (a store query), however
    many receivers it goes to."""
    known: dict[str, tuple[str, ...]] = {}

    def notes_of(fingerprint: str) -> tuple[str, ...]:
        notes = known.get(fingerprint)
        if notes is None:
            try:
                notes = tuple(action_notes(fingerprint))
            except Exception:  # notes are a nicety; never lose the notification over them
                log.exception("action_notes_failed", fingerprint=fingerprint)
                notes = ()
            known[fingerprint] = notes
        return notes

    def render(a: Alert) -> NotifiedAlert:
        if a.state == "firing":  # as it is now, where it still fires
            a = firing.get(a.fingerprint) or a
        is_firing = a.state == "firing"
        return NotifiedAlert(
            status="firing" if is_firing else "resolved",
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            starts_at=a.fired_at if a.fired_at is not None else a.active_at,
            ends_at=None if is_firing else (a.resolved_at if a.resolved_at is not None else now),
            fingerprint=a.fingerprint,
            value=a.value,
            generator_url=generator_url(a),
            examples=a.examples,
            action_notes=notes_of(a.fingerprint),
        )

    return render
