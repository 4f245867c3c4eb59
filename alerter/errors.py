"""The error hierarchy. Messages say what to change."""

from __future__ import annotations

from alerter.core.yamlsource import Mark, Problem, SourceError


class AlerterError(Exception):
    """Base of alerter's own errors."""


class ConfigError(SourceError, AlerterError):
    """Config or rule files are invalid; `problems` lists every `FILE:LINE:COL: message`.
    `warnings`: those found beside them (`alerter check` prints both)."""

    warnings: tuple[Problem, ...] = ()

    @classmethod
    def single(cls, file: str, message: str, line: int = 1, col: int = 1) -> ConfigError:
        return cls([Problem(Mark(file, line, col), message)])


class NotifyError(AlerterError):
    """A notification could not be delivered. `retry` says whether trying again may help."""

    def __init__(
        self, message: str, *, retry: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


class ActionError(AlerterError):
    """An action failed to run or was refused."""


class StateError(AlerterError):
    """The state store cannot be opened or migrated."""
