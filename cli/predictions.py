"""``chronos predictions``: recurring forecasts of a trained model."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import JobIdArgument, JsonOption, VerboseOption, print_result
from cli.prefect_runtime import run_flow

app = typer.Typer(
    help="Recurring forecasts: turn them on or off for a training job, or run a sweep now.",
    no_args_is_help=True,
)


@app.command("enable")
def enable(
    job_id: JobIdArgument,
    interval_seconds: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Seconds between forecasts (default: the data's sampling interval; at least "
            "CHRONOS_MIN_PREDICTION_INTERVAL_SECONDS).",
        ),
    ] = None,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Forecast every interval with this training job's model and publish to Orion."""
    result = run_flow(
        "flows.predictions:enable_forecasts",
        job_id,
        interval_seconds=interval_seconds,
        verbose=verbose,
    )
    print_result(result, as_json=as_json, title=f"Recurring forecasts of training job {job_id}")


@app.command("disable")
def disable(
    job_id: JobIdArgument, verbose: VerboseOption = False, as_json: JsonOption = False
) -> None:
    """Stop the recurring forecasts of this training job."""
    result = run_flow("flows.predictions:disable_forecasts", job_id, verbose=verbose)
    print_result(result, as_json=as_json, title=f"Recurring forecasts of training job {job_id}")


@app.command("run-due")
def run_due(
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="Most forecasts to run in this sweep.")
    ] = 200,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run every recurring forecast that is due now (one scheduler sweep)."""
    result = run_flow("flows.predictions:run_due_forecasts", limit=limit, verbose=verbose)
    print_result(result, as_json=as_json, title="Scheduler sweep")
