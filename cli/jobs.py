"""``chronos jobs``: training jobs: list, inspect, cancel, reconcile."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chronos_core.domain.enums import TrainingStatus
from cli.output import (
    JobIdArgument,
    JsonOption,
    VerboseOption,
    console,
    id_parameter,
    print_fields,
    print_json,
    print_table,
)

app = typer.Typer(help="Training jobs: list, inspect, cancel, reconcile.", no_args_is_help=True)


@app.command("list")
def list_jobs(
    model: Annotated[
        str | None, id_parameter("MODEL_ID", "Only this model's jobs.", "--model")
    ] = None,
    status: Annotated[
        list[TrainingStatus] | None,
        typer.Option(help="Only jobs in this status (repeat for several)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Most jobs to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List training jobs, newest first."""
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from cli.context import open_database

    jobs = TrainingJobRepository(open_database())
    statuses = list(status) if status else list(TrainingStatus)
    if model is not None:
        found = jobs.list_for_model(model, status=statuses, limit=limit)
    else:
        found = jobs.list_by_status(statuses, limit=limit, newest_first=True)
    if as_json:
        print_json(found)
        return
    print_table(
        found,
        {
            "Training job": "id",
            "Model": "model_id",
            "Status": "status",
            "last_n": "last_n",
            "Collected": lambda job: (
                f"{job.progress_percent:g}%" if job.total_data_points_requested else ""
            ),
            "Created (UTC)": "created_at",
            "RMSE": lambda job: job.metrics.rmse if job.metrics else None,
            "Recurring": lambda job: "on" if job.prediction_config.enabled else "",
        },
        title="Training jobs",
        empty="No training jobs.",
    )


@app.command("show")
def show(job_id: JobIdArgument, as_json: JsonOption = False) -> None:
    """Show one training job: status, timings, data collection, report, recurring forecasts."""
    from chronos_core.storage.model_repository import ModelRepository
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from chronos_core.training.report import anchor_text, seasons_text
    from cli.context import open_database

    db = open_database()
    job = TrainingJobRepository(db).get(job_id)
    if as_json:
        print_json(job)
        return
    print_fields(
        {
            "id": job.id,
            "model_id": job.model_id,
            "status": job.status,
            "last_n": f"{job.last_n} (chosen from the data)" if job.last_n_chosen else job.last_n,
            "points requested": job.total_data_points_requested,
            "points collected": job.total_data_points_collected,
            "sampling interval (s)": job.sampling_interval_seconds,
            "seasons": seasons_text(job.seasons),
            "lookback used": job.lookback_window_used,
            "anchor": anchor_text(job.network_inputs),
            "created_at": job.created_at,
            "start_time": job.start_time,
            "end_time": job.end_time,
            "duration (s)": job.total_duration_seconds,
            "training duration (s)": job.training_duration_seconds,
            "flow_run_id": job.flow_run_id,
            "error": job.error,
            "model artifact": job.model_artifact_id,
        },
        title=f"Training job {job.id}",
    )
    if job.data_collection_jobs:
        print_table(
            job.data_collection_jobs,
            {
                "#": "index",
                "hOffset": "h_offset",
                "Points": "h_limit",
                "Pages": "pages",
                "Status": "status",
                "Collected": "data_points_collected",
                "Dropped": "dropped_values",
                "Duplicates": "duplicate_timestamps",
                "Error": "error",
            },
            title="Data collection",
        )
    if job.metrics is not None:
        print_report(job, ModelRepository(db).get(job.model_id))
    config = job.prediction_config
    print_fields(
        {
            "enabled": config.enabled,
            "interval (s)": config.interval_seconds,
            "next run": job.next_prediction_at,
            "last run": config.last_run_at,
            "last success": config.last_success_at,
            "last error": config.last_error,
            "consecutive failures": config.consecutive_failures,
        },
        title="Recurring forecasts",
    )


def print_report(job: Any, model: Any) -> None:
    """The training report, as in the job's Prefect artifact: the backtest of the model against
    every baseline, its verdict and the prediction intervals."""
    from rich.markdown import Markdown

    from chronos_core.training.report import summary_markdown

    out = console()
    out.rule("Backtest")
    out.print(Markdown(summary_markdown(job, model)))


@app.command("cancel")
def cancel(
    job_id: JobIdArgument, verbose: VerboseOption = False, as_json: JsonOption = False
) -> None:
    """Cancel a training job (runs the cancel-training flow) and print its new status."""
    from cli.prefect_runtime import run_flow

    status = run_flow("flows.training:cancel_training", job_id, verbose=verbose)
    if as_json:
        print_json({"id": job_id, "status": status})
        return
    typer.echo(f"Training job {job_id}: {status}")


@app.command("reconcile")
def reconcile(
    grace_minutes: Annotated[
        int,
        typer.Option(min=0, max=10_080, help="Leave alone jobs updated less than this long ago."),
    ] = 10,
    dead: Annotated[
        list[str] | None,
        id_parameter(
            "JOB_ID",
            "End this active job even though Prefect still shows its run (a process that was "
            "killed outright, without a server to notice). Repeatable.",
            "--dead",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """End training jobs whose flow run is gone (crashed, killed, or its worker died).

    A job whose lease expired (its process stopped renewing it) ends whatever Prefect says.
    For a job without a lease, asks the Prefect API for its flow run; a job whose run is not
    scheduled, pending, running, paused or cancelling ends failed (cancelled if cancellation
    was asked), its partial artifacts are removed and its model gets its status back.
    """
    from chronos_core.errors import Conflict
    from chronos_core.services.training_jobs import end_lost_job, reconcile_dead_jobs
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from cli.context import open_database
    from cli.prefect_runtime import prepare

    db = open_database()
    repository = TrainingJobRepository(db)
    forced_jobs = [repository.get(job_id) for job_id in sorted(set(dead or ()))]
    for job in forced_jobs:
        if not job.status.is_active:
            raise Conflict(f"training job {job.id} already ended ({job.status.value})")
    ended: list[str] = []
    for job in forced_jobs:
        end_lost_job(db, job, "declared_dead")
        ended.append(job.id)

    prepare()
    from tasks.maintenance import prefect_run_liveness

    ended += reconcile_dead_jobs(db, prefect_run_liveness(), grace_seconds=grace_minutes * 60.0)
    if as_json:
        print_json({"ended": ended})
        return
    if not ended:
        typer.echo("No dead training runs.")
        return
    typer.echo(f"Ended {len(ended)} training job(s) whose run was gone:")
    for job_id in ended:
        typer.echo(f"  {job_id}")
