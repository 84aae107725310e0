"""``chronos serve``: the Prefect UI plus every Chronos deployment, on one machine."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from cli.errors import fail
from cli.local_server import DEFAULT_HOST, DEFAULT_PORT, LocalPrefectServer
from cli.prefect_runtime import default_prefect_home, forget_local_server, record_local_server


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(
    host: Annotated[str, typer.Option(help="Address of the local Prefect server.")] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the local Prefect server (UI and API).")
    ] = DEFAULT_PORT,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Most flow runs executing at once (default: no limit)."),
    ] = None,
    prefect_home: Annotated[
        Path | None,
        typer.Option(
            help="PREFECT_HOME of the local server (its SQLite database and logs); "
            "default <CHRONOS_DATA_DIR>/prefect."
        ),
    ] = None,
) -> None:
    """Serve every Chronos deployment (schedules included) until Ctrl-C or SIGTERM.

    With PREFECT_API_URL set, the deployments are served against that server. Otherwise a local
    Prefect server is started first (UI at http://127.0.0.1:4200) and stopped on exit.
    """
    # Until Prefect's runner installs its own handler, SIGTERM means "stop what we started".
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
    api_url = os.environ.get("PREFECT_API_URL")
    server: LocalPrefectServer | None = None
    try:
        if api_url:
            typer.echo(f"Serving the Chronos deployments on the Prefect server at {api_url}")
        else:
            server = LocalPrefectServer(
                prefect_home or default_prefect_home(), host=host, port=port
            )
            typer.echo(f"Starting a local Prefect server (logs: {server.log_path}) ...")
            server.start()
            # Set before Prefect is imported, so this process and its flow runs all use it.
            os.environ["PREFECT_API_URL"] = server.api_url
            record_local_server(server.api_url)
            typer.echo(f"Prefect UI: {server.ui_url}")
            typer.echo(
                "chronos commands run from other shells report to this server; other Prefect "
                f"clients need PREFECT_API_URL={server.api_url}"
            )
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from deployments.serve import serve_deployments

        with temporary_settings(updates={PREFECT_API_URL: os.environ["PREFECT_API_URL"]}):
            serve_deployments(limit=limit)
    except KeyboardInterrupt:
        typer.echo("Stopping ...", err=True)
    except ModuleNotFoundError as error:
        fail(f"cannot load a flow module ({error}); is Chronos fully installed?")
    finally:
        if server is not None:
            forget_local_server()
            server.stop()
            os.environ.pop("PREFECT_API_URL", None)
        signal.signal(signal.SIGTERM, previous_handler)
