"""``chronos sandbox``: the local FIWARE emulation (STH-Comet, Orion, IoT Agent)."""

from __future__ import annotations

from typing import Annotated

import typer


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    sth_port: Annotated[
        int, typer.Option(min=0, max=65535, help="STH-Comet port (0: any free port).")
    ] = 8666,
    orion_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Orion port (0: any free port).")
    ] = 1026,
    iot_agent_port: Annotated[
        int, typer.Option(min=0, max=65535, help="IoT Agent port (0: any free port).")
    ] = 4041,
) -> None:
    """Serve the FIWARE sandbox (in-memory STH-Comet, Orion and IoT Agent) until Ctrl-C/SIGTERM.

    For demos and trials without a FIWARE stack; it keeps everything in memory.
    """
    from chronos_core.sandbox import run_sandbox

    def on_ready(urls: dict[str, str]) -> None:
        typer.echo("FIWARE sandbox ready. Point Chronos at it with:")
        for key, url in urls.items():
            typer.echo(f"  export CHRONOS_{key.upper()}={url}")
        typer.echo("Stop it with Ctrl-C.")

    run_sandbox(host, sth_port, orion_port, iot_agent_port, on_ready)
    typer.echo("FIWARE sandbox stopped.")
