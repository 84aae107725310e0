"""Recurring forecasts: ``enable-forecasts``, ``disable-forecasts`` and the scheduler sweep
``run-due-forecasts`` (a deployment runs it every minute; see ``deployments/catalog.py``).

The sweep claims each due job atomically before running it (see
:mod:`chronos_core.forecasting.scheduling`), so sweeps that overlap, or a sweep that dies, never
produce a forecast twice or leave a job stuck. Due jobs run in batches (one Prefect task per
batch, not per job: a task run costs tens of milliseconds of orchestration, more than a forecast
with a cached model); each batch's log and the sweep's table artifact show every job's outcome.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from chronos_core.clock import utc_now
from chronos_core.errors import InvalidInput
from chronos_core.fiware.ngsi import parse_datetime
from chronos_core.forecasting.model_cache import default_model_cache
from chronos_core.forecasting.scheduling import (
    DueJob,
    RunOutcome,
    ScheduledRun,
    SweepReport,
    batches,
)
from chronos_core.settings import get_settings
from chronos_core.storage.model_repository import MAX_PAGE_SIZE
from flows.failures import one_line_failures
from flows.parameters import TrainingJobId, titled
from tasks.forecasting import (
    disable_forecasts_task,
    enable_forecasts_task,
    find_due_task,
    finish_pending_task,
    publish_pending_with_retries,
    run_due_batch_task,
)

MAX_SWEEP = 10_000
SWEEP_ARTIFACT_KEY = "run-due-forecasts"
IntervalSeconds = Annotated[int | None, Field(ge=1), titled("Interval (seconds)")]


@flow(name="enable-forecasts", flow_run_name="enable-forecasts-{training_job_id}")
@one_line_failures
def enable_forecasts(
    training_job_id: TrainingJobId, interval_seconds: IntervalSeconds = None
) -> dict[str, Any]:
    """Forecast with a completed training job every interval and publish to Orion.

    The first forecast is due at once; the model's other training jobs with recurring
    forecasts are switched off (the schedule moves to this job).

    Args:
        training_job_id: A completed training job (a UUID).
        interval_seconds: Seconds between forecasts (default: the data's sampling interval;
            at least CHRONOS_MIN_PREDICTION_INTERVAL_SECONDS).
    """
    return enable_forecasts_task(training_job_id, interval_seconds)


@flow(name="disable-forecasts", flow_run_name="disable-forecasts-{training_job_id}")
@one_line_failures
def disable_forecasts(training_job_id: TrainingJobId) -> dict[str, Any]:
    """Stop the recurring forecasts of a training job (stored forecasts are kept).

    Args:
        training_job_id: The training job (a UUID).
    """
    return disable_forecasts_task(training_job_id)


def _sweep_run_name() -> str:
    return f"due-forecasts-{utc_now():%Y%m%dT%H%M%S}"


def _run_from(data: dict[str, Any]) -> ScheduledRun:
    next_at = data.get("next_prediction_at")
    return ScheduledRun(
        job_id=data["job_id"],
        outcome=RunOutcome(data["outcome"]),
        model_id=data.get("model_id"),
        forecast_id=data.get("forecast_id"),
        error=data.get("error"),
        next_prediction_at=parse_datetime(next_at) if next_at else None,
        model_loaded=bool(data.get("model_loaded")),
    )


@flow(
    name="run-due-forecasts",
    flow_run_name=_sweep_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=get_settings().forecast_concurrency),  # type: ignore[arg-type]
)
@one_line_failures
def run_due_forecasts(
    limit: Annotated[int, Field(ge=1, le=MAX_SWEEP), titled("Most forecasts")] = 200,
) -> dict[str, Any]:
    """One scheduler sweep: run every recurring forecast that is due now.

    Each due job is claimed atomically (its next run moves to the first slot after now, so
    missed slots are coalesced), forecast, stored and published, in batches run
    CHRONOS_FORECAST_CONCURRENCY at a time. Publications that failed because Orion was
    unreachable are retried by a retrying task at the end of the sweep. Returns counts per
    outcome, the models loaded (not found in this process's cache) and the throughput.

    Args:
        limit: The most forecasts this sweep runs.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SWEEP:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_SWEEP}, got {limit!r}")
    logger = get_run_logger()
    settings = get_settings()
    cache = default_model_cache(settings)
    started = time.perf_counter()
    before = cache.stats()
    runs: list[ScheduledRun] = []
    pending: list[dict[str, Any]] = []
    while len(runs) + len(pending) < limit:
        asked = min(limit - len(runs) - len(pending), MAX_PAGE_SIZE)
        due = find_due_task(asked)
        if not due:
            break
        parts = batches([DueJob(**item) for item in due], settings.forecast_concurrency)
        submitted = [
            (part, run_due_batch_task.submit([d.as_params() for d in part], f"{len(runs)}-{i}"))
            for i, part in enumerate(parts)
        ]
        for part, future in submitted:
            try:
                result = future.result()
            except Exception as error:  # the batch itself failed (e.g. database unreachable)
                message = f"{type(error).__name__}: {error}"
                runs.extend(ScheduledRun(d.job_id, RunOutcome.FAILED, error=message) for d in part)
                continue
            runs.extend(_run_from(item) for item in result["runs"])
            pending.extend(result["pending"])
        if len(due) < asked:
            break
    if pending:
        last_error = publish_pending_with_retries(pending)
        runs.extend(_run_from(item) for item in finish_pending_task(pending, last_error))
    after = cache.stats()
    report = SweepReport.build(
        runs,
        seconds=time.perf_counter() - started,
        model_loads=after.loads - before.loads,
        cache_hits=after.hits - before.hits,
    )
    summary = report.as_dict()
    logger.info(
        "sweep: %d due, %d succeeded, %d publication failed, %d failed, %d disabled, "
        "%d skipped; %d model load(s) in %.2f s",
        report.due,
        report.outcomes["succeeded"],
        report.outcomes["publication_failed"],
        report.outcomes["failed"],
        report.outcomes["disabled"],
        report.outcomes["skipped"],
        report.model_loads,
        report.seconds,
    )
    if report.due:
        create_table_artifact(
            table=summary["runs"],
            key=SWEEP_ARTIFACT_KEY,
            description=f"{report.forecasts} forecast(s) in {report.seconds:.1f} s",
        )
    return summary
