"""Past forecasts next to what really happened, and their expiry.

Forecasts are kept in the ``forecasts`` collection (not only in STH-Comet through Orion): every
forecast is there, including those Orion never received, with its publication state, and the
history of one model or job is an indexed query. A forecast's *actual* values are read from
STH-Comet once its target times have passed: the actual value of a target time ``t`` is the
mean of the raw observations in ``[t - interval/2, t + interval/2)``, the same bucket the
training grid uses.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from pydantic import BaseModel, Field
from pymongo.database import Database

from chronos_core.clock import as_utc, utc_now
from chronos_core.domain.forecast import ForecastRecord
from chronos_core.domain.identifiers import parse_id
from chronos_core.domain.validation import check_int
from chronos_core.errors import ChronosError, NotFound
from chronos_core.fiware.history_source import HistoryClient, history_client
from chronos_core.fiware.series import ObservationSeries
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.model_repository import MAX_PAGE_SIZE, ModelRepository

Db = Database[dict[str, Any]]


class HistoryPoint(BaseModel):
    """One forecast value and, once known, the actual value at its target time."""

    step: int
    target_timestamp: datetime
    forecast: float
    actual: float | None = None
    error: float | None = Field(default=None, description="forecast - actual")


class HistoryEntry(BaseModel):
    """One stored forecast with its realised error over the points whose actual is known."""

    id: str
    model_id: str
    training_job_id: str
    trigger: str
    issued_at: datetime
    scheduled_for: datetime | None
    horizon: int
    published: bool
    publication_status: str
    publication_error: str | None
    points: list[HistoryPoint]
    known: int = Field(description="Points whose actual value is known.")
    mae: float | None = None
    rmse: float | None = None
    mape: float | None = Field(default=None, description="Percent; unset if an actual is 0.")
    note: str | None = None


def forecast_history(
    db: Db,
    model_id: str,
    *,
    limit: int = 20,
    training_job_id: str | None = None,
    with_actuals: bool = True,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[HistoryEntry]:
    """The model's latest ``limit`` forecasts, newest first, with actuals and realised errors.

    When STH-Comet cannot be read the forecasts are still returned, without actuals and with a
    ``note`` saying why.
    """
    model_id = parse_id(model_id, "model id")
    if training_job_id is not None:
        training_job_id = parse_id(training_job_id, "training job id")
    limit = check_int(limit, "limit", 1, MAX_PAGE_SIZE)
    records = ForecastRepository(db).list_for_model(
        model_id, training_job_id=training_job_id, limit=limit
    )
    if not records and not ModelRepository(db).exists(model_id):
        raise NotFound(f"model {model_id} not found")
    actuals: dict[str, list[float | None]] = {}
    note: str | None = None
    if with_actuals and records:
        try:
            actuals = _actuals(records, settings or get_settings(), as_utc(now or utc_now()))
        except ChronosError as error:
            note = f"actual values unavailable: {error}"
    return [_entry(record, actuals.get(record.id), note) for record in records]


def _entry(
    record: ForecastRecord, actuals: Sequence[float | None] | None, note: str | None
) -> HistoryEntry:
    points = [
        HistoryPoint(
            step=point.step,
            target_timestamp=point.target_timestamp,
            forecast=point.value,
            actual=actual,
            error=None if actual is None else point.value - actual,
        )
        for point, actual in zip(record.points, actuals or [None] * len(record.points), strict=True)
    ]
    errors = [p.error for p in points if p.error is not None]
    actual_values = [p.actual for p in points if p.actual is not None]
    known = len(errors)
    return HistoryEntry(
        id=record.id,
        model_id=record.model_id,
        training_job_id=record.training_job_id,
        trigger=record.trigger.value,
        issued_at=record.issued_at,
        scheduled_for=record.scheduled_for,
        horizon=record.forecast_horizon,
        published=record.publication.status.value == "published",
        publication_status=record.publication.status.value,
        publication_error=record.publication.error,
        points=points,
        known=known,
        mae=sum(abs(e) for e in errors) / known if known else None,
        rmse=math.sqrt(sum(e * e for e in errors) / known) if known else None,
        mape=(
            100 * sum(abs(e) / abs(a) for e, a in zip(errors, actual_values, strict=True)) / known
            if known and all(a != 0 for a in actual_values)
            else None
        ),
        note=note,
    )


SourceKey = tuple[str, str, str, str, str]
#: Where a record's actual values are read: service, service path, entity type, id, attribute.
_source = attrgetter("service", "service_path", "entity_type", "entity_id", "feature")


def _actuals(
    records: Sequence[ForecastRecord], settings: Settings, now: datetime
) -> dict[str, list[float | None]]:
    """Actual values of every record's points (``None`` where not known yet)."""
    by_source: dict[SourceKey, list[ForecastRecord]] = defaultdict(list)
    for record in records:
        by_source[_source(record)].append(record)
    result: dict[str, list[float | None]] = {}
    with history_client(settings) as client:
        for key, group in by_source.items():
            observations = _observations(client, key, group, now)
            for record in group:
                half = timedelta(seconds=record.sampling_interval_seconds / 2)
                result[record.id] = [
                    _bucket_mean(
                        observations, point.target_timestamp - half, point.target_timestamp + half
                    )
                    if point.target_timestamp - half <= now
                    else None
                    for point in record.points
                ]
    return result


def _observations(
    client: HistoryClient, key: SourceKey, records: Sequence[ForecastRecord], now: datetime
) -> ObservationSeries:
    """The raw points covering the records' past target times (one read per contiguous span)."""
    spans: list[tuple[datetime, datetime]] = []
    for record in records:
        half = timedelta(seconds=record.sampling_interval_seconds / 2)
        start = min(p.target_timestamp for p in record.points) - half
        end = min(max(p.target_timestamp for p in record.points) + half, now)
        if start <= end:
            spans.append((start, end))
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    service, service_path, entity_type, entity_id, feature = key
    tenant = Tenant(service, service_path)
    parts = [
        client.fetch_range(tenant, entity_type, entity_id, feature, start, end)
        for start, end in merged
    ]
    return ObservationSeries().merge(*parts)


def _bucket_mean(series: ObservationSeries, start: datetime, end: datetime) -> float | None:
    timestamps = series.timestamps
    low = bisect.bisect_left(timestamps, start)
    high = bisect.bisect_left(timestamps, end)
    values = [o.value for o in series.observations[low:high]]
    return sum(values) / len(values) if values else None


def expire_forecasts(db: Db, now: datetime | None = None) -> int:
    """Delete stored forecasts past their retention; returns how many were deleted.

    The TTL index on ``expires_at`` lets the database do the same in the background; this
    also works on servers without a TTL monitor.
    """
    return ForecastRepository(db).delete_expired(now)
