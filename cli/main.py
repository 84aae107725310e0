"""The ``chronos`` command line.

Start-up stays fast: this module and the command modules import only typer, rich and Chronos'
domain; the database driver, Prefect and TensorFlow are imported by the commands that use them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli import (
    database,
    demo,
    deployments,
    devices,
    forecasting,
    health,
    jobs,
    models,
    predictions,
    sandbox,
    serve,
    training,
)
from cli.errors import ChronosGroup

app = typer.Typer(
    cls=ChronosGroup,
    name="chronos",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from chronos_core import __version__

        typer.echo(f"chronos {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the Chronos version and exit.",
        ),
    ] = False,
) -> None:
    """Chronos: LSTM/GRU forecasts for FIWARE entities, orchestrated by Prefect."""


app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("sandbox")(sandbox.sandbox)
app.add_typer(database.app, name="db")
app.add_typer(deployments.app, name="deployments")
app.add_typer(models.app, name="models")
app.command("train")(training.train)
app.add_typer(jobs.app, name="jobs")
app.add_typer(forecasting.app, name="forecast")
app.add_typer(predictions.app, name="predictions")
app.command("devices")(devices.devices)
app.command("health")(health.health)


if __name__ == "__main__":
    app()
