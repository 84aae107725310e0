"""``chronos forecast``: forecast with a trained model, and show past forecasts."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.groups import DefaultCommandGroup
from cli.output import (
    JsonOption,
    ModelIdArgument,
    VerboseOption,
    id_parameter,
    print_json,
    print_result,
    print_table,
)
from cli.prefect_runtime import run_flow

app = typer.Typer(
    cls=DefaultCommandGroup,
    help="Forecast with a trained model (chronos forecast MODEL_ID), or show past forecasts "
    "(chronos forecast history MODEL_ID).",
    no_args_is_help=True,
)


@app.command("run")
def run(
    model_id: ModelIdArgument,
    job: Annotated[
        str | None,
        id_parameter("JOB_ID", "Training job to use (default: the latest completed).", "--job"),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish/--no-publish", help="Publish the forecast to Orion.")
    ] = True,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Forecast the model's next values from the latest history (runs the forecast flow)."""
    result = run_flow(
        "flows.forecast:forecast",
        model_id,
        training_job_id=job,
        publish=publish,
        verbose=verbose,
        action=f"Forecasting with model {model_id}",
    )
    print_result(result, as_json=as_json, title=f"Forecast of model {model_id}")


@app.command("history")
def history(
    model_id: ModelIdArgument,
    job: Annotated[
        str | None, id_parameter("JOB_ID", "Only forecasts of this training job.", "--job")
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
        entries,
        {
            "Forecast": "id",
            "Issued (UTC)": "issued_at",
            "Trigger": "trigger",
            "Horizon": "horizon",
            "Orion": "publication_status",
            "Actuals": lambda entry: f"{entry.known}/{len(entry.points)}",
            "MAE": "mae",
            "RMSE": "rmse",
        },
        title=f"Forecasts of model {model_id}",
        empty="No stored forecasts.",
    )
    for note in sorted({entry.note for entry in entries if entry.note}):
        typer.echo(f"Note: {note}", err=True)
