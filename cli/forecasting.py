"""``chronos forecast``: forecast with a trained model, and show past forecasts."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.groups import DefaultCommandGroup
from cli.output import print_json, print_result, print_table

app = typer.Typer(
    cls=DefaultCommandGroup,
    help="Forecast with a trained model (chronos forecast MODEL_ID), or show past forecasts "
    "(chronos forecast history MODEL_ID).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelIdArgument = Annotated[str, typer.Argument(metavar="MODEL_ID", help="The model's id.")]

#: Where the forecasting service keeps stored forecasts.


@app.command("run")
def run(
    model_id: ModelIdArgument,
    job: Annotated[
        str | None,
        typer.Option(
            "--job", metavar="JOB_ID", help="Training job to use (default: the latest completed)."
        ),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish/--no-publish", help="Publish the forecast to Orion.")
    ] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Prefect's log lines as the flow runs.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Forecast the model's next values from the latest history (runs the forecast flow)."""
    from chronos_core.domain.identifiers import parse_id
    from cli.prefect_runtime import announce

    model_id = parse_id(model_id, "model id")
    job_id = parse_id(job, "training job id") if job is not None else None
    announce(f"Forecasting with model {model_id}", verbose=verbose)
    from flows.forecast import forecast

    result = forecast(model_id, training_job_id=job_id, publish=publish)
    if as_json:
        print_json(result)
    else:
        print_result(result, title=f"Forecast of model {model_id}")


@app.command("history")
def history(
    model_id: ModelIdArgument,
    job: Annotated[
        str | None,
        typer.Option("--job", metavar="JOB_ID", help="Only forecasts of this training job."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Most forecasts to show.")] = 20,
    no_actuals: Annotated[
        bool,
        typer.Option("--no-actuals", help="Do not read the actual values from STH-Comet (faster)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the model's stored forecasts, newest first, next to the actual values."""
    from chronos_core.forecasting.history import forecast_history
    from cli.context import load_settings, open_database

    entries = forecast_history(
        open_database(),
        model_id,
        limit=limit,
        training_job_id=job,
        with_actuals=not no_actuals,
        settings=load_settings(),
    )
    if as_json:
        print_json(entries)
        return
    print_table(
        (
            {
                "id": entry.id,
                "issued_at": entry.issued_at,
                "trigger": entry.trigger,
                "horizon": entry.horizon,
                "publication": entry.publication_status,
                "known": f"{entry.known}/{len(entry.points)}",
                "mae": entry.mae,
                "rmse": entry.rmse,
            }
            for entry in entries
        ),
        {
            "id": "Forecast",
            "issued_at": "Issued (UTC)",
            "trigger": "Trigger",
            "horizon": "Horizon",
            "publication": "Orion",
            "known": "Actuals",
            "mae": "MAE",
            "rmse": "RMSE",
        },
        title=f"Forecasts of model {model_id}",
        empty="No stored forecasts.",
    )
    notes = {entry.note for entry in entries if entry.note}
    for note in sorted(notes):
        typer.echo(f"Note: {note}", err=True)
