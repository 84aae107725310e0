"""``chronos predictions``: recurring forecasts of a trained model."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import print_json, print_result

app = typer.Typer(
    help="Recurring forecasts: turn them on or off for a training job, or run a sweep now.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JobIdArgument = Annotated[
    str, typer.Argument(metavar="JOB_ID", help="A completed training job's id.")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show Prefect's log lines as the flow runs.")
]


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
    from chronos_core.domain.identifiers import parse_id
    from cli.prefect_runtime import announce

    job_id = parse_id(job_id, "training job id")
    announce("Running enable-forecasts", verbose=verbose)
    from flows.predictions import enable_forecasts

    result = enable_forecasts(job_id, interval_seconds=interval_seconds)
    if as_json:
        print_json(result)
    else:
        print_result(result, title=f"Recurring forecasts of training job {job_id}")


@app.command("disable")
def disable(
    job_id: JobIdArgument, verbose: VerboseOption = False, as_json: JsonOption = False
) -> None:
    """Stop the recurring forecasts of this training job."""
    from chronos_core.domain.identifiers import parse_id
    from cli.prefect_runtime import announce

    job_id = parse_id(job_id, "training job id")
    announce("Running disable-forecasts", verbose=verbose)
    from flows.predictions import disable_forecasts

    result = disable_forecasts(job_id)
    if as_json:
        print_json(result)
    else:
        print_result(result, title=f"Recurring forecasts of training job {job_id}")


@app.command("run-due")
def run_due(
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="Most forecasts to run in this sweep.")
    ] = 200,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run every recurring forecast that is due now (one scheduler sweep)."""
    from cli.prefect_runtime import announce

    announce("Running run-due-forecasts", verbose=verbose)
    from flows.predictions import run_due_forecasts

    result = run_due_forecasts(limit=limit)
    if as_json:
        print_json(result)
    else:
        print_result(result, title="Scheduler sweep")
