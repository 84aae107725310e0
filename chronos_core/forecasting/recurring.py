"""Turning recurring forecasts on and off for a training job.

A model has one schedule: enabling one of its completed jobs switches its other jobs off. The
scheduler itself (claiming due jobs, slots, back-off) is :mod:`chronos_core.forecasting.scheduling`.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import TrainingStatus
from chronos_core.domain.identifiers import parse_id
from chronos_core.domain.training_job import TrainingJob
from chronos_core.errors import Conflict, InvalidInput, NotFound
from chronos_core.forecasting.forecaster import artifact_key, check_artifacts_exist, iso_or_none
from chronos_core.forecasting.publication import forecast_entity_id
from chronos_core.settings import Settings
from chronos_core.storage.documents import bson_datetime
from chronos_core.storage.model_repository import MAX_PAGE_SIZE, ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository

Db = Database[dict[str, Any]]

MAX_INTERVAL_SECONDS = 366 * 86_400
DISABLED_ON_REQUEST = "disabled on request"


def resolve_interval(interval_seconds: int | None, job: TrainingJob, settings: Settings) -> int:
    """The forecast interval: the given one (already passed through :func:`check_interval`)
    or, by default, the job's sampling interval (raised to the minimum if shorter)."""
    if interval_seconds is not None:
        return interval_seconds
    if job.sampling_interval_seconds is None:
        raise InvalidInput(f"training job {job.id} has no sampling interval; give interval_seconds")
    minimum = settings.min_prediction_interval_seconds
    return min(max(job.sampling_interval_seconds, minimum), MAX_INTERVAL_SECONDS)


def check_interval(interval_seconds: object, settings: Settings) -> int:
    """A given forecast interval, refused unless a whole number of seconds within the
    configured minimum and 366 days."""
    minimum = settings.min_prediction_interval_seconds
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int):
        raise InvalidInput(
            f"interval_seconds must be a whole number of seconds, got {interval_seconds!r}"
        )
    if not minimum <= interval_seconds <= MAX_INTERVAL_SECONDS:
        raise InvalidInput(
            f"interval_seconds must be between {minimum} (CHRONOS_MIN_PREDICTION_INTERVAL_SECONDS)"
            f" and {MAX_INTERVAL_SECONDS} (366 days), got {interval_seconds}"
        )
    return interval_seconds


def schedule_state(job: TrainingJob) -> dict[str, Any]:
    """A job's recurring-forecast settings and latest outcomes, as plain JSON values."""
    config = job.prediction_config
    return {
        "training_job_id": job.id,
        "model_id": job.model_id,
        "enabled": config.enabled,
        "interval_seconds": config.interval_seconds,
        "next_prediction_at": iso_or_none(job.next_prediction_at),
        "forecast_entity_id": config.entity_id,
        "forecast_entity_type": config.entity_type,
        "last_run_at": iso_or_none(config.last_run_at),
        "last_success_at": iso_or_none(config.last_success_at),
        "last_error": config.last_error,
        "consecutive_failures": config.consecutive_failures,
        "disabled_reason": config.disabled_reason,
    }


def enable_forecasts(
    db: Db,
    training_job_id: str,
    interval_seconds: int | None = None,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Forecast every ``interval_seconds`` with a completed job, starting now.

    The model's other jobs with recurring forecasts are switched off: the schedule moves to
    this job. Bad input or a job that cannot forecast raises before anything is written.
    """
    job_id = parse_id(training_job_id, "training job id")
    if interval_seconds is not None:
        check_interval(interval_seconds, settings)  # before anything is read
    jobs = TrainingJobRepository(db)
    job = jobs.get(job_id)
    if job.status is not TrainingStatus.COMPLETED:
        raise Conflict(
            f"training job {job_id} is {job.status.value}; only a completed training job can "
            "forecast on a schedule"
        )
    model = ModelRepository(db).get(job.model_id)
    artifact_key(db, job)
    check_artifacts_exist(db, job)
    interval = resolve_interval(interval_seconds, job, settings)
    entity_id = forecast_entity_id(model.entity_type, model.entity_id, model.feature)
    moment = now or utc_now()
    config = job.prediction_config
    next_at = moment
    if config.enabled and job.next_prediction_at is not None:
        next_at = min(job.next_prediction_at, moment + timedelta(seconds=interval))
    job = jobs.set_fields(
        job_id,
        {
            "prediction_config.enabled": True,
            "prediction_config.interval_seconds": interval,
            "prediction_config.entity_id": entity_id,
            "prediction_config.entity_type": settings.forecast_entity_type,
            "prediction_config.created_at": config.created_at or moment,
            "prediction_config.updated_at": moment,
            "prediction_config.disabled_reason": None,
            "prediction_config.last_error": None,
            "prediction_config.consecutive_failures": 0,
            "next_prediction_at": next_at,
        },
        expected=TrainingStatus.COMPLETED,
    )
    replaced = _disable_other_jobs(jobs, job, moment)
    state = schedule_state(job)
    state["replaced_jobs"] = replaced
    return state


def _disable_other_jobs(
    jobs: TrainingJobRepository, job: TrainingJob, moment: datetime
) -> list[str]:
    """Switch off the model's other schedules enabled no later than ``moment`` (latest wins)."""
    replaced: list[str] = []
    limit = bson_datetime(moment)
    for other in jobs.list_for_model(job.model_id, limit=MAX_PAGE_SIZE):
        config = other.prediction_config
        if other.id == job.id or not config.enabled:
            continue
        if config.updated_at is not None and config.updated_at > limit:
            continue  # enabled after this one: it wins
        with contextlib.suppress(NotFound):
            jobs.set_fields(
                other.id,
                {
                    "prediction_config.enabled": False,
                    "prediction_config.disabled_reason": f"replaced by training job {job.id}",
                    "prediction_config.updated_at": moment,
                    "next_prediction_at": None,
                },
            )
            replaced.append(other.id)
    return replaced


def disable_forecasts(
    db: Db,
    training_job_id: str,
    *,
    reason: str = DISABLED_ON_REQUEST,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Stop a job's recurring forecasts (harmless if they were off)."""
    job_id = parse_id(training_job_id, "training job id")
    jobs = TrainingJobRepository(db)
    before = jobs.get(job_id)
    moment = now or utc_now()
    job = jobs.set_fields(
        job_id,
        {
            "prediction_config.enabled": False,
            "prediction_config.disabled_reason": reason,
            "prediction_config.updated_at": moment,
            "next_prediction_at": None,
        },
    )
    state = schedule_state(job)
    state["was_enabled"] = before.prediction_config.enabled
    return state
