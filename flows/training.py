"""The ``train-model`` and ``cancel-training`` flows.

``train-model`` runs the pipeline of ``chronos_core.training`` as Prefect tasks: collect the
newest ``last_n`` points from STH-Comet in parallel chunks, prepare the windows, fit the network in
the flow's main thread, backtest it against the baselines and store the artifacts in GridFS.
Whatever happens, the job ends ``completed``, ``failed`` or ``cancelled`` and the model gets a
consistent status back.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.exceptions import TerminationSignal
from prefect.futures import PrefectFuture, wait
from prefect.states import Cancelled as CancelledState
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from chronos_core.domain.training_job import MAX_LAST_N
from chronos_core.errors import Cancelled, ChronosError
from chronos_core.services.training_jobs import (
    finish_job_cancelled,
    finish_job_failed,
    request_cancel,
)
from chronos_core.settings import get_settings
from chronos_core.storage.database import get_database, is_unreachable, unreachable_error
from chronos_core.storage.training_job_repository import TrainingJobRepository
from chronos_core.training.lease import LeaseKeeper
from flows.failures import one_line_failures
from flows.parameters import ModelId, TrainingJobId, titled
from tasks.artifacts import publish_training_ended, publish_training_started
from tasks.progress import Progress
from tasks.training import (
    collect,
    evaluate,
    fit,
    plan,
    prepare,
    publish_report,
    start_job,
    store,
    workspace_for,
)

log = logging.getLogger(__name__)
#: The collection progress bar is updated at most this often (each update is an API call).
PROGRESS_INTERVAL_SECONDS = 1.0


class ChunkFailed(ChronosError):
    """A collection chunk still failed after its retries."""


def _end_jobs_of_run(flow_run: Any, *, cancelled: bool, reason: str) -> None:
    """Close the active job of a flow run that was cancelled or crashed from outside."""
    db = get_database()
    for job in TrainingJobRepository(db).find_active():
        if job.flow_run_id != str(flow_run.id):
            continue
        if cancelled:
            finish_job_cancelled(db, job.id, reason)
        else:
            finish_job_failed(db, job.id, reason, {"flow_run_id": str(flow_run.id)})


def on_run_cancelled(flow: Any, flow_run: Any, state: State) -> None:
    """Runner hook (called in the worker process after the flow process was stopped)."""
    _end_jobs_of_run(flow_run, cancelled=True, reason="The Prefect flow run was cancelled")


def on_run_crashed(flow: Any, flow_run: Any, state: State) -> None:
    _end_jobs_of_run(
        flow_run, cancelled=False, reason=f"The Prefect flow run crashed: {state.message}"
    )


def _collect_all(job_id: str, chunk_ids: list[str]) -> int:
    """Collect every chunk with bounded concurrency; fail naming the first chunk that failed."""
    logger = get_run_logger()
    progress = Progress("Collecting history")
    futures: list[PrefectFuture[int]] = [
        collect.submit(job_id, chunk_id, index) for index, chunk_id in enumerate(chunk_ids)
    ]
    collected = 0
    updated = time.monotonic()
    database_lost = False
    try:
        for index, future in enumerate(futures):
            future.wait()
            if future.state.is_completed():
                collected += future.result()
                now = time.monotonic()
                if index + 1 == len(futures) or now - updated >= PROGRESS_INTERVAL_SECONDS:
                    progress.update(100.0 * (index + 1) / len(futures))
                    updated = now
                continue
            try:
                future.result()
            except Cancelled:
                raise
            except Exception as error:
                if is_unreachable(error):
                    # Every queued chunk would wait for the database in turn: leave them to the
                    # task runner, which cancels what has not started when the flow ends.
                    database_lost = True
                    raise
                job = TrainingJobRepository(get_database()).get(job_id)
                chunk = job.data_collection_jobs[index]
                raise ChunkFailed(
                    f"collection chunk {chunk.index} (h_offset {chunk.h_offset}, h_limit "
                    f"{chunk.h_limit}) failed after its retries: {error}",
                    details={"chunk_id": chunk.id, "chunk_index": chunk.index},
                ) from error
    finally:
        if not database_lost:
            wait(futures)
    progress.update(100.0, f"History collected: {collected} points")
    logger.info("collected %d points", collected)
    return collected


@flow(
    name="train-model",
    flow_run_name="train-{model_id}",
    task_runner=ThreadPoolTaskRunner(max_workers=get_settings().collection_concurrency),  # type: ignore[arg-type]
    on_cancellation=[on_run_cancelled],
    on_crashed=[on_run_crashed],
)
@one_line_failures
def train_model(
    model_id: ModelId,
    last_n: Annotated[int | None, Field(ge=1, le=MAX_LAST_N), titled("Points to train on")] = None,
) -> str:
    """Train a registered model on its entity attribute's newest ``last_n`` points (unset:
    chosen from the sampling interval of the newest points; the job records the value).

    Returns the training job id. A cancelled job ends the run in the Cancelled state.

    Args:
        model_id: The model to train (a UUID; the register-model run's artifact shows it).
        last_n: How many of the newest STH-Comet points to collect and train on (history
            points of the attribute, before the regular grid and the train/validation/test
            split).
    """
    logger = get_run_logger()
    job_id = start_job(model_id, last_n)
    publish_training_started(job_id)
    db = get_database()
    workspace = workspace_for(job_id)
    # Renews the job's lease in every phase; a process killed outright stops renewing it.
    lease = LeaseKeeper(db, job_id, get_settings().training_lease_seconds).start()
    try:
        chunk_ids = plan(job_id)
        _collect_all(job_id, chunk_ids)
        prepare(job_id)
        fit(job_id)  # called directly: TensorFlow runs in the flow's main thread
        evaluate(job_id)
        store(job_id)
        publish_report(job_id)
    except Cancelled as error:
        finish_job_cancelled(db, job_id)
        publish_training_ended(job_id, f"cancelled: {error}")
        logger.warning("training job %s cancelled: %s", job_id, error)
        return CancelledState(message=f"training job {job_id} was cancelled")  # type: ignore[return-value]
    except BaseException as error:
        # TerminationSignal (the Prefect run was cancelled) and Ctrl-C are BaseExceptions.
        if isinstance(error, TerminationSignal | KeyboardInterrupt):
            finish_job_cancelled(db, job_id, f"Stopped: {type(error).__name__}")
        else:
            if is_unreachable(error):
                # Ending the job needs the database too: its lease ends it once it is back.
                lost = unreachable_error(error, db)
                logger.error("training job %s stopped: %s", job_id, lost)
                raise lost from None
            message = (
                str(error)
                if isinstance(error, ChronosError)
                else (f"{type(error).__name__}: {error}")
            )
            details = dict(getattr(error, "details", {}) or {})
            details["exception"] = type(error).__name__
            try:
                finish_job_failed(db, job_id, message, details)
            except Exception as finishing:
                if not is_unreachable(finishing):
                    raise
                logger.error("training job %s failed: %s", job_id, unreachable_error(finishing, db))
            else:
                publish_training_ended(job_id, message)
            logger.error("training job %s failed: %s", job_id, message)
        raise
    finally:
        lease.stop()
        workspace.remove()
    logger.info("training job %s completed", job_id)
    return job_id


@flow(name="cancel-training", flow_run_name="cancel-{training_job_id}")
@one_line_failures
def cancel_training(training_job_id: TrainingJobId) -> str:
    """Ask a running training job to stop; it ends ``cancelled`` within seconds.

    Returns the job's status after the request (``cancel_requested``).

    Args:
        training_job_id: The running training job (a UUID; the train-model run's artifact
            shows it).
    """
    job = request_cancel(get_database(), training_job_id)
    get_run_logger().info("training job %s: %s", job.id, job.status.value)
    return job.status.value
