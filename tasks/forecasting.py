"""Prefect tasks for forecasting (thin wrappers over ``chronos_core.forecasting``).

Tasks take and return ids and small values; the loaded models stay in this process's model
cache (:func:`chronos_core.forecasting.model_cache.default_model_cache`).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from chronos_core.forecasting import recurring, scheduling
from chronos_core.forecasting.forecaster import forecast_now, forecast_summary
from chronos_core.forecasting.model_cache import default_model_cache
from chronos_core.forecasting.publication import mark_not_published, publish_forecast
from chronos_core.settings import get_settings
from chronos_core.storage.database import get_database
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from tasks.fiware_limits import fiware_slots
from tasks.retries import retry_publication, retry_when_transient


@task(
    name="compute-forecast",
    tags=["forecasting", "sth-comet", "mongodb"],
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_when_transient,
    timeout_seconds=600,
)
def compute_forecast_task(model_id: str, training_job_id: str | None) -> str:
    """Forecast with the model's job from the newest STH-Comet data; returns the forecast id."""
    settings = get_settings()
    computed = forecast_now(
        get_database(settings),
        model_id,
        training_job_id,
        settings=settings,
        cache=default_model_cache(settings),
    )
    record = computed.record
    get_run_logger().info(
        "forecast %s: %d point(s) after %s with training job %s%s",
        record.id,
        record.forecast_horizon,
        record.last_observed_at.isoformat(),
        record.training_job_id,
        " (model loaded)" if computed.model_loaded else "",
    )
    return record.id


# No timeout_seconds on the tasks a sweep runs in worker threads: Prefect cannot interrupt them
# there; the HTTP timeouts of the FIWARE clients bound them instead.
@task(name="publish-forecast", tags=["forecasting", "orion"])
def publish_forecast_task(forecast_id: str) -> str:
    """Upsert a stored forecast's entity in Orion; returns the entity id."""
    settings = get_settings()
    record = publish_forecast(get_database(settings), forecast_id, settings=settings)
    entity_id = record.publication.entity_id or ""
    get_run_logger().info("forecast %s published to %s", forecast_id, entity_id)
    return entity_id


def publish_with_retries(forecast_id: str) -> str:
    """Run :func:`publish_forecast_task` with the configured Prefect retries (transient errors
    only). Raises the last error when every attempt failed; the forecast records it."""
    settings = get_settings()
    retrying = publish_forecast_task.with_options(
        retries=settings.forecast_publication_retries,
        retry_delay_seconds=settings.forecast_publication_retry_delay_seconds,
        retry_condition_fn=retry_publication,
    )
    return retrying(forecast_id)


@task(name="skip-publication", tags=["forecasting", "mongodb"])
def skip_publication_task(forecast_id: str) -> None:
    mark_not_published(get_database(), forecast_id)


@task(name="describe-forecast", tags=["forecasting", "mongodb"])
def describe_forecast_task(forecast_id: str) -> dict[str, Any]:
    """The stored forecast as plain JSON values."""
    return forecast_summary(ForecastRepository(get_database()).get(forecast_id))


@task(name="record-publication-failure", tags=["forecasting", "mongodb"])
def record_publication_failure_task(forecast_id: str, error: str) -> None:
    """Keep an on-demand forecast's publication failure on its training job too."""
    db = get_database()
    record = ForecastRepository(db).get(forecast_id)
    TrainingJobRepository(db).set_fields(
        record.training_job_id,
        {"prediction_config.last_error": f"forecast {forecast_id} was not published: {error}"},
    )


@task(name="enable-forecasts", tags=["forecasting", "mongodb"], timeout_seconds=120)
def enable_forecasts_task(training_job_id: str, interval_seconds: int | None) -> dict[str, Any]:
    settings = get_settings()
    state = recurring.enable_forecasts(
        get_database(settings), training_job_id, interval_seconds, settings=settings
    )
    logger = get_run_logger()
    logger.info(
        "recurring forecasts of training job %s every %d s, next at %s",
        training_job_id,
        state["interval_seconds"],
        state["next_prediction_at"],
    )
    if state["replaced_jobs"]:
        logger.info(
            "replaced the schedule of training job(s) %s", ", ".join(state["replaced_jobs"])
        )
    return state


@task(name="disable-forecasts", tags=["forecasting", "mongodb"], timeout_seconds=120)
def disable_forecasts_task(training_job_id: str) -> dict[str, Any]:
    state = recurring.disable_forecasts(get_database(), training_job_id)
    get_run_logger().info("recurring forecasts of training job %s disabled", training_job_id)
    return state


@task(name="find-due-forecasts", timeout_seconds=120)
def find_due_task(limit: int, due_by: datetime) -> list[dict[str, Any]]:
    """The jobs due by ``due_by`` (id, due slot, interval), earliest first."""
    jobs = scheduling.find_due_jobs(get_database(), due_by, limit=limit)
    return [due.as_params() for due in jobs]


#: Set when this process stops serving forecast batches (see ``deployments/forecast_worker.py``):
#: running batches then claim no further job, so nothing claimed is left without its run.
STOPPING = threading.Event()


# The sweep's tasks carry no tags: Prefect asks its API for tag concurrency slots before every
# tagged task run (a round trip, and stalls of up to 2 s measured with Prefect 3.9). The FIWARE
# services are protected by global limits taken per batch instead (tasks/fiware_limits.py).
# No cache key and no stored result in the sweep's own run (the forecast worker stores its
# results under their task run ids: deployments/forecast_worker.py).
@task(
    name="run-due-batch",
    task_run_name="forecast-batch-{label}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
def run_due_batch_task(due: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """Claim, forecast, store and publish a batch of due jobs, one after the other.

    Runs in the sweep's own flow run or, submitted with ``.delay()``, in a forecast worker (a
    Prefect task worker whose model cache lives as long as the worker). Returns
    ``{"runs": [...], "pending": [...]}``: the finished runs, and the publications left for the
    retrying ``publish-pending`` task (those after a transient Orion failure).
    """
    settings = get_settings()
    with fiware_slots(("sth-comet", "orion"), requests=len(due)):
        runs, pending = scheduling.run_due_batch(
            get_database(settings),
            [scheduling.DueJob(**item) for item in due],
            settings=settings,
            cache=default_model_cache(settings),
            should_stop=STOPPING.is_set,
        )
    logger = get_run_logger()
    for run in runs:
        if run.outcome in (scheduling.RunOutcome.SUCCEEDED, scheduling.RunOutcome.SKIPPED):
            logger.info("training job %s: %s %s", run.job_id, run.outcome.value, run.error or "")
        else:
            logger.warning("training job %s: %s: %s", run.job_id, run.outcome.value, run.error)
    if pending:
        logger.warning("%d publication(s) left for a retry", len(pending))
    return {"runs": [run.as_dict() for run in runs], "pending": [p.as_params() for p in pending]}


def subscribed_forecast_workers() -> int:
    """How many forecast workers (task workers serving ``run-due-batch``) are subscribed to the
    Prefect API now (raises if the API cannot be asked)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client.request(
            "POST",
            "/task_workers/filter",
            json={"task_worker_filter": {"task_keys": [run_due_batch_task.task_key]}},
        )
        response.raise_for_status()
        return len(response.json())


@task(name="publish-pending")
def publish_pending_task(pending: list[dict[str, Any]], delay_seconds: float) -> None:
    """Wait, then try the pending publications again (raises at the first transient failure,
    so that Prefect retries the task)."""
    if delay_seconds > 0:
        time.sleep(delay_seconds)
    settings = get_settings()
    scheduling.publish_pending(
        get_database(settings),
        [scheduling.PendingPublication.from_params(item) for item in pending],
        settings=settings,
    )


def publish_pending_with_retries(pending: list[dict[str, Any]]) -> str | None:
    """Retry the pending publications with the configured Prefect task retries; returns the
    last error (``None`` when every publication went through or failed for good)."""
    settings = get_settings()
    if not pending or settings.forecast_publication_retries < 1:
        return None
    delay = settings.forecast_publication_retry_delay_seconds
    retrying = publish_pending_task.with_options(
        retries=settings.forecast_publication_retries - 1,
        retry_delay_seconds=delay,
        retry_condition_fn=retry_publication,
    )
    try:
        retrying(pending, delay)
    except Exception as error:
        return str(error)[:2000]
    return None


@task(name="finish-pending")
def finish_pending_task(
    pending: list[dict[str, Any]], last_error: str | None
) -> list[dict[str, Any]]:
    """Record the outcome of the retried publications on their jobs."""
    settings = get_settings()
    runs = scheduling.finish_pending(
        get_database(settings),
        [scheduling.PendingPublication.from_params(item) for item in pending],
        settings=settings,
        last_error=last_error,
    )
    return [run.as_dict() for run in runs]


__all__ = [
    "compute_forecast_task",
    "describe_forecast_task",
    "disable_forecasts_task",
    "enable_forecasts_task",
    "find_due_task",
    "finish_pending_task",
    "publish_forecast_task",
    "publish_pending_task",
    "publish_pending_with_retries",
    "publish_with_retries",
    "record_publication_failure_task",
    "retry_when_transient",
    "run_due_batch_task",
    "skip_publication_task",
]
