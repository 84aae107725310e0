"""Prefect tasks of the training flow, one per pipeline step in ``chronos_core.training``.

The tasks carry no tags on purpose: Prefect asks its API for tag concurrency slots before every
tagged task run, which costs a round trip per task (and, measured with Prefect 3.9, stalls of up
to 2 s when the "no limit" answer is not cached), for nothing when no tag limit is defined. The
collection's parallelism is bounded by ``collection_concurrency`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from chronos_core.services.training_jobs import start_training_job
from chronos_core.settings import get_settings
from chronos_core.storage.database import get_database
from chronos_core.training.artifacts import store_artifacts
from chronos_core.training.collection import collect_chunk_points, plan_collection
from chronos_core.training.evaluation import evaluate_model
from chronos_core.training.fitting import fit_model
from chronos_core.training.preparation import prepare_data
from chronos_core.training.workspace import JobWorkspace
from tasks.artifacts import publish_model_artifact, training_plots_markdown
from tasks.fiware_limits import fiware_slots
from tasks.progress import Progress
from tasks.retries import retry_when_transient


def workspace_for(job_id: str) -> JobWorkspace:
    """The job's scratch directory under ``CHRONOS_DATA_DIR/work``."""
    return JobWorkspace(Path(get_settings().data_dir) / "work", job_id)


@task(name="start-training-job")
def start_job(model_id: str, last_n: int | None) -> str:
    run_id = flow_run.get_id()
    job = start_training_job(
        get_database(),
        model_id,
        last_n,
        flow_run_id=str(run_id) if run_id else None,
        with_lease=True,
    )
    get_run_logger().info(
        "training job %s created for model %s (last_n=%s)",
        job.id,
        model_id,
        "chosen from the data" if last_n is None else last_n,
    )
    return job.id


@task(
    name="plan-collection",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_when_transient,
)
def plan(job_id: str) -> list[str]:
    chunk_ids = plan_collection(get_database(), job_id, get_settings())
    get_run_logger().info("collecting in %d chunk(s)", len(chunk_ids))
    return chunk_ids


@task(
    name="collect-chunk",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_when_transient,
    task_run_name="collect-chunk-{index}",
)
def collect(job_id: str, chunk_id: str, index: int) -> int:
    with fiware_slots(("sth-comet",), requests=0):
        points = collect_chunk_points(
            get_database(), job_id, chunk_id, workspace_for(job_id), get_settings()
        )
    get_run_logger().info("chunk %d: %d points", index, points)
    return points


@task(name="prepare-data")
def prepare(job_id: str) -> dict[str, Any]:
    summary = prepare_data(get_database(), job_id, workspace_for(job_id))
    get_run_logger().info(
        "prepared %s grid points at %ss (%s interpolated, %s long gaps); windows %s",
        summary.get("grid_points"),
        summary.get("sampling_interval_seconds"),
        summary.get("interpolated_points"),
        summary.get("long_gaps"),
        summary.get("windows"),
    )
    return summary


@task(name="fit-network")
def fit(job_id: str) -> dict[str, Any]:
    """Runs in the flow's main thread (the flow calls it directly, never ``.submit``)."""
    logger = get_run_logger()
    progress = Progress("Training epochs")

    def on_epoch_end(epoch: int, epochs: int, logs: dict[str, float | None]) -> None:
        logger.info(
            "epoch %d/%d loss=%s val_loss=%s", epoch + 1, epochs, logs.get("loss"),
            logs.get("val_loss"),
        )  # fmt: skip
        progress.update(100.0 * (epoch + 1) / epochs)

    summary = fit_model(
        get_database(), job_id, workspace_for(job_id), get_settings(), on_epoch_end=on_epoch_end
    )
    progress.update(100.0, f"Training done: {summary.get('epochs_trained', '?')} epoch(s)")
    return summary


@task(name="evaluate-model")
def evaluate(job_id: str) -> dict[str, Any]:
    return evaluate_model(get_database(), job_id, workspace_for(job_id), get_settings())


@task(name="store-artifacts")
def store(job_id: str) -> dict[str, str]:
    ids = store_artifacts(get_database(), job_id, workspace_for(job_id), get_settings())
    get_run_logger().info("artifacts stored: %s", ids)
    return ids


@task(name="publish-training-report")
def publish_report(job_id: str) -> str:
    """Table and markdown artifacts: the backtest of the model against the baselines (per
    forecaster and per horizon step), the verdict, the prediction intervals, the plots, and the
    model's artifact updated with this job."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from chronos_core.services.summaries import rounded_rows
    from chronos_core.storage.model_repository import ModelRepository
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from chronos_core.training.report import (
        metrics_table,
        per_step_rows,
        summary_markdown,
        verdict,
    )

    db = get_database()
    job = TrainingJobRepository(db).get(job_id)
    model = ModelRepository(db).get(job.model_id)
    create_table_artifact(
        # Rounded for people; the job keeps the full values.
        table=rounded_rows(metrics_table(job)),
        key=f"metrics-{job_id}",
        description=f"Backtest errors of model {model.name} against the baselines",
    )
    steps = per_step_rows(job)
    if steps:
        create_table_artifact(
            table=steps,
            key=f"backtest-steps-{job_id}",
            description=f"MAE per horizon step of model {model.name} and each baseline",
        )
    plots = training_plots_markdown(job_id)
    create_markdown_artifact(
        markdown=summary_markdown(job, model) + (f"\n\n{plots}" if plots else ""),
        key=f"training-{job_id}",
        description=f"Training job of model {model.name}: report and plots",
    )
    publish_model_artifact(model.id)
    message = verdict(job)
    get_run_logger().info(message)
    return message
