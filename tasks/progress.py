"""Progress bars in the Prefect UI (progress artifacts), safe to use from any task or flow."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact


class Progress:
    """A progress artifact updated in place; percentages are clamped to [0, 100]."""

    def __init__(self, description: str) -> None:
        self._id = cast(UUID, create_progress_artifact(progress=0.0, description=description))

    def update(self, percent: float, description: str | None = None) -> None:
        """Move the bar; ``description`` replaces the label (e.g. once the step is done)."""
        update_progress_artifact(
            self._id, progress=max(0.0, min(100.0, percent)), description=description
        )
