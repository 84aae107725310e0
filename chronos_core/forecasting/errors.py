"""Why a forecast could not be made."""

from __future__ import annotations

from chronos_core.errors import ChronosError, InsufficientData, NotFound


class ArtifactsUnusable(ChronosError):
    """The training job's stored model cannot be used (missing, corrupted or unloadable).

    Retrying does not help: recurring forecasts of such a job are disabled.
    """


class ArtifactsMissing(ArtifactsUnusable, NotFound):
    """The training job's artifacts are gone from GridFS (or were never recorded)."""


class StaleData(InsufficientData):
    """The newest observation is older than ``CHRONOS_FORECAST_STALENESS_SECONDS``."""
