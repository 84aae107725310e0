"""A stored forecast: what was forecast, from which data, and whether it reached Orion.

Every forecast Chronos computes, on demand or on a schedule, is kept as one document of the
``forecasts`` collection until its ``expires_at`` (a TTL index removes it; see
:mod:`chronos_core.storage.schema`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chronos_core.clock import utc_now
from chronos_core.domain.identifiers import new_id


class ForecastTrigger(StrEnum):
    ON_DEMAND = "on_demand"
    SCHEDULE = "schedule"


class PublicationStatus(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"
    SKIPPED = "skipped"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ForecastPoint(_Doc):
    """One forecast value: ``step`` (1-based) intervals after the last observation."""

    step: int = Field(ge=1)
    value: float
    target_timestamp: datetime
    intervals: dict[str, float] = Field(
        default_factory=dict,
        description="Prediction-interval bounds: lower80, upper80, lower95, upper95 (one pair "
        "per configured level; empty for models trained without intervals).",
    )


class Publication(_Doc):
    """Where the forecast goes in Orion and how its publication went."""

    status: PublicationStatus = PublicationStatus.PENDING
    entity_id: str | None = None
    entity_type: str | None = None
    attempts: int = Field(default=0, ge=0)
    published_at: datetime | None = None
    error: str | None = None


class ForecastRecord(_Doc):
    """One forecast, as stored in the ``forecasts`` collection."""

    id: str = Field(default_factory=new_id)
    model_id: str
    training_job_id: str
    trigger: ForecastTrigger
    scheduled_for: datetime | None = Field(
        default=None, description="The schedule slot this forecast fills (scheduled runs only)."
    )
    issued_at: datetime = Field(default_factory=utc_now)
    service: str
    service_path: str
    entity_type: str
    entity_id: str
    feature: str
    lookback_window: int = Field(ge=1)
    forecast_horizon: int = Field(ge=1)
    sampling_interval_seconds: int = Field(ge=1)
    last_observed_at: datetime
    context_values: list[float] = Field(
        default_factory=list,
        description="The input window (regular points ending at last_observed_at).",
    )
    filled_inputs: list[int] = Field(
        default_factory=list,
        description="Positions in context_values (0 = oldest) that were missing and filled, "
        "not observed.",
    )
    points: list[ForecastPoint] = Field(default_factory=list)
    interval_levels: list[int] = Field(
        default_factory=list, description="The levels (percent) of the points' intervals."
    )
    interval_method: str | None = None
    publication: Publication = Field(default_factory=Publication)
    publish_next_value: bool = Field(
        default=False, description="The model's setting: also publish the next value as a Number."
    )
    expires_at: datetime

    @staticmethod
    def expiry(issued_at: datetime, retention_days: int) -> datetime:
        return issued_at + timedelta(days=retention_days)

    def context_window(self) -> list[dict[str, Any]]:
        """``[{timestamp, value}]`` of the input window, oldest first."""
        step = timedelta(seconds=self.sampling_interval_seconds)
        last = len(self.context_values) - 1
        return [
            {"timestamp": self.last_observed_at - step * (last - i), "value": value}
            for i, value in enumerate(self.context_values)
        ]
