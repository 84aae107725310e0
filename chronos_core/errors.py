"""The exceptions Chronos raises. Each carries one clear, user-facing message."""

from __future__ import annotations

from typing import Any


class ChronosError(Exception):
    """Base class: ``str(error)`` is a single line a user can act on."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


class InvalidInput(ChronosError):
    """The caller sent something Chronos does not accept; nothing was written."""


class NotFound(ChronosError):
    """A model, training job, artifact or entity does not exist."""


class Conflict(ChronosError):
    """The request is valid but not in the current state (e.g. editing a trained model)."""


class DuplicateForecast(Conflict):
    """A training job already has a forecast for this schedule slot."""


class IllegalTransition(Conflict):
    """A status change that the state machine does not allow."""


class InsufficientData(ChronosError):
    """Too few usable points for the model's configuration."""


class Cancelled(ChronosError):
    """The work was cancelled on request."""


class ExternalServiceError(ChronosError):
    """A FIWARE service or the database failed or answered with an error."""
