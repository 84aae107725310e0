"""Recurring forecasts: ``enable-forecasts``, ``disable-forecasts`` and the scheduler sweep
``run-due-forecasts`` (a deployment runs it every minute; see ``deployments/catalog.py``).

The sweep claims each due job atomically before running it (see
:mod:`chronos_core.forecasting.scheduling`), so sweeps that overlap, or a sweep that dies, never
produce a forecast twice or leave a job stuck. Due jobs run in batches (one Prefect task per
batch, not per job: a task run costs tens of milliseconds of orchestration, more than a forecast
with a cached model); each batch's log and the sweep's table artifact show every job's outcome.

Where a forecast worker runs (``chronos serve`` starts one; ``python -m
deployments.forecast_worker`` on any host), the batches are submitted to it with ``.delay()``:
a Prefect task worker is a long-lived process, so the models it loaded for one sweep are still
loaded for the next (see docs/scaling.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from chronos_core.clock import utc_now
from chronos_core.domain.validation import check_int
from chronos_core.fiware.ngsi import parse_datetime
from chronos_core.forecasting.scheduling import (
    BatchResult,
    DueJob,
    PendingPublication,
    RunOutcome,
    ScheduledRun,
    SweepReport,
    cache_use,
    collect_due_runs,
)
from chronos_core.settings import Settings, get_settings
from flows.failures import one_line_failures
from flows.parameters import TrainingJobId, titled
from tasks.forecasting import (
    disable_forecasts_task,
    enable_forecasts_task,
    find_due_task,
    finish_pending_task,
    publish_pending_with_retries,
    run_due_batch_task,
    subscribed_forecast_workers,
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


def _batch_label(index: int) -> str:
    run_id = flow_run.get_id()
    return f"{(run_id or 'local')[:8]}-{index}"


def _forecast_workers_running() -> bool:
    try:
        return subscribed_forecast_workers() > 0
    except Exception:
        return False


def _use_workers(settings: Settings) -> bool:
    if settings.forecast_executor == "flow":
        return False
    running = _forecast_workers_running()
    if settings.forecast_executor == "workers" and not running:
        get_run_logger().warning(
            "no forecast worker is running yet (CHRONOS_FORECAST_EXECUTOR=workers); the batches "
            "wait up to %.0f s for one",
            settings.forecast_worker_wait_seconds,
        )
        return True
    return running


def _batch_outcome(result: dict[str, Any]) -> BatchResult:
    runs = [_run_from(item) for item in result["runs"]]
    return runs, [PendingPublication.from_params(item) for item in result["pending"]]


def _failed_batch(part: list[DueJob], error: BaseException) -> BatchResult:
    message = f"{type(error).__name__}: {error}"
    return [ScheduledRun(d.job_id, RunOutcome.FAILED, error=message) for d in part], []


def _wait(future: Any, deadline: float) -> None:
    """``future.wait()`` until ``deadline`` (monotonic), also while the server has not yet
    recorded the task run's first state (Prefect raises then, more often on a loaded server)."""
    while True:
        try:
            future.wait(timeout=max(0.0, deadline - time.monotonic()))
            return
        except RuntimeError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.5)


def _unfinished_batch(part: list[DueJob], taken: bool, wait_seconds: float) -> BatchResult:
    if taken:  # its jobs' outcomes are recorded on them when it ends
        outcome, error = RunOutcome.FAILED, "the forecast worker did not finish the batch"
    else:  # nothing was claimed, the jobs stay due
        outcome, error = RunOutcome.SKIPPED, "not claimed: no forecast worker ran the batch"
    message = f"{error} within {wait_seconds:.0f} s" + ("" if taken else "; the job stays due")
    return [ScheduledRun(d.job_id, outcome, error=message) for d in part], []


class _BatchRunner:
    """Runs a sweep's batches: as tasks of this flow run (threads), or with ``.delay()`` in the
    forecast workers, whose model caches outlive the run."""

    def __init__(self, *, use_workers: bool, wait_seconds: float) -> None:
        self.use_workers = use_workers
        self.wait_seconds = wait_seconds
        self.submitted = 0

    def __call__(self, parts: list[list[DueJob]]) -> Iterator[BatchResult]:
        params = [[d.as_params() for d in part] for part in parts]
        labels = [_batch_label(self.submitted + i) for i in range(len(parts))]
        self.submitted += len(parts)
        if not self.use_workers:
            futures = [
                run_due_batch_task.submit(p, label) for p, label in zip(params, labels, strict=True)
            ]
            for part, future in zip(parts, futures, strict=True):
                try:
                    yield _batch_outcome(future.result())
                except Exception as error:  # the batch itself failed (database unreachable)
                    yield _failed_batch(part, error)
            return
        delayed = [
            run_due_batch_task.delay(p, label) for p, label in zip(params, labels, strict=True)
        ]
        deadline = time.monotonic() + self.wait_seconds
        for part, future in zip(parts, delayed, strict=True):
            _wait(future, deadline)
            if future.state.is_running():  # a worker took it: it gets as long again to finish
                _wait(future, time.monotonic() + self.wait_seconds)
            state = future.state
            if not state.is_final():
                yield _unfinished_batch(part, state.is_running(), self.wait_seconds)
                continue
            try:
                yield _batch_outcome(future.result(timeout=1))
            except Exception as error:
                yield _failed_batch(part, error)


@flow(
    name="run-due-forecasts",
    flow_run_name=_sweep_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=get_settings().forecast_concurrency),  # type: ignore[arg-type]
)
@one_line_failures
def run_due_forecasts(
    limit: Annotated[int, Field(ge=1, le=MAX_SWEEP), titled("Most forecasts")] = MAX_SWEEP,
) -> dict[str, Any]:
    """One scheduler sweep: run every recurring forecast that is due now.

    Each due job is claimed atomically (its next run moves to the first slot after now, so
    missed slots are coalesced), forecast, stored and published, in batches run
    CHRONOS_FORECAST_CONCURRENCY at a time: in the forecast workers when one runs (they keep
    the models loaded between sweeps; see docs/scaling.md), else in this run. Publications
    that failed because Orion was unreachable are retried by a retrying task at the end of the
    sweep. Returns counts per outcome, the models loaded (not found in a cache) and the
    throughput.

    Args:
        limit: The most forecasts this sweep runs.
    """
    limit = check_int(limit, "limit", 1, MAX_SWEEP)
    logger = get_run_logger()
    settings = get_settings()
    started = time.perf_counter()
    due_by = utc_now()  # what was due when the sweep started (not what falls due meanwhile)
    runner = _BatchRunner(
        use_workers=_use_workers(settings), wait_seconds=settings.forecast_worker_wait_seconds
    )
    runs, pending_runs = collect_due_runs(
        limit=limit,
        width=settings.forecast_concurrency,
        find_due=lambda asked: [DueJob(**item) for item in find_due_task(asked, due_by)],
        run_batches=runner,
    )
    pending = [item.as_params() for item in pending_runs]
    if pending:
        last_error = publish_pending_with_retries(pending)
        runs.extend(_run_from(item) for item in finish_pending_task(pending, last_error))
    loads, hits = cache_use(runs)
    report = SweepReport.build(
        runs, seconds=time.perf_counter() - started, model_loads=loads, cache_hits=hits
    )
    summary = report.as_dict()
    summary["executor"] = "workers" if runner.use_workers else "flow"
    logger.info(
        "sweep (%s): %d due, %d succeeded, %d publication failed, %d failed, %d disabled, "
        "%d skipped; %d model load(s), %d cache hit(s) in %.2f s",
        summary["executor"],
        report.due,
        report.outcomes["succeeded"],
        report.outcomes["publication_failed"],
        report.outcomes["failed"],
        report.outcomes["disabled"],
        report.outcomes["skipped"],
        report.model_loads,
        report.cache_hits,
        report.seconds,
    )
    if report.due:
        create_table_artifact(
            table=summary["runs"],
            key=SWEEP_ARTIFACT_KEY,
            description=(
                f"{report.forecasts} forecast(s) in {report.seconds:.1f} s "
                f"({summary['executor']}); {report.model_loads} model load(s), "
                f"{report.cache_hits} cache hit(s)"
            ),
        )
    return summary
