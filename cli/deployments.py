"""``chronos deployments``: the deployment catalogue and the ``prefect.yaml`` made from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import JsonOption, print_json, print_table

app = typer.Typer(help="The Chronos deployments and prefect.yaml.", no_args_is_help=True)


@app.command("list")
def list_deployments(as_json: JsonOption = False) -> None:
    """List every deployment: name, entrypoint and schedule."""
    from deployments.catalog import DEPLOYMENTS

    rows = [
        {
            "deployment": spec.full_name,
            "entrypoint": spec.entrypoint,
            "schedule": (
                f"every {spec.interval_seconds} s"
                if spec.interval_seconds is not None
                else (f"cron {spec.cron}" if spec.cron else "")
            ),
        }
        for spec in DEPLOYMENTS
    ]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["deployment", "entrypoint", "schedule"])


@app.command("export")
def export_yaml(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write it (default: the project's)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check that the file is current (exit 1 if not).")
    ] = False,
) -> None:
    """Write prefect.yaml from the deployment catalogue (for `prefect deploy --all`)."""
    from deployments.prefect_yaml import PREFECT_YAML, export, render

    path = output or PREFECT_YAML
    if not check:
        typer.echo(f"{'wrote' if export(path) else 'unchanged:'} {path}")
    elif path.exists() and path.read_text(encoding="utf-8") == render():
        typer.echo(f"{path} is up to date")
    else:
        typer.echo(f"{path} is out of date: run `chronos deployments export`", err=True)
        raise typer.Exit(1)
