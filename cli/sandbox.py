"""``chronos sandbox``: the local FIWARE emulation (STH-Comet, Orion, IoT Agent; with
``--ngsi-ld`` also Orion-LD and the NGSI-LD temporal API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fiware_sandbox import FiwareSandbox


def serve_chronos_context(sandbox: FiwareSandbox) -> None:
    """Have the sandbox Orion-LD serve the Chronos ``@context`` (it must be started)."""
    from chronos_core.forecasting.ld_publication import chronos_context_document

    sandbox.orion_ld.serve_chronos_context(chronos_context_document())


def ld_environment(urls: dict[str, str]) -> dict[str, str]:
    """The ``CHRONOS_*`` variables of NGSI-LD mode for a sandbox serving ``urls``."""
    from fiware_sandbox.orion_ld import CHRONOS_CONTEXT_PATH

    return {
        "CHRONOS_NGSI_FLAVOUR": "ld",
        "CHRONOS_ORION_LD_URL": urls["orion_ld_url"],
        "CHRONOS_NGSI_LD_TEMPORAL_URL": urls["ngsi_ld_temporal_url"],
        "CHRONOS_NGSI_LD_CONTEXT_URL": urls["orion_ld_url"] + CHRONOS_CONTEXT_PATH,
    }


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
    ngsi_ld: Annotated[
        bool,
        typer.Option(
            "--ngsi-ld",
            help="Also serve Orion-LD and the NGSI-LD temporal API, and print the exports of "
            "NGSI-LD mode (CHRONOS_NGSI_FLAVOUR=ld).",
        ),
    ] = False,
    orion_ld_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Orion-LD port, with --ngsi-ld (0: any free).")
    ] = 1027,
    temporal_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="NGSI-LD temporal API port, with --ngsi-ld (0: any free)."
        ),
    ] = 9090,
) -> None:
    """Serve the FIWARE sandbox (in-memory STH-Comet, Orion and IoT Agent) until Ctrl-C/SIGTERM.

    For demos and trials without a FIWARE stack; it keeps everything in memory. With --ngsi-ld
    it also serves Orion-LD (with the Chronos @context) and the NGSI-LD temporal API.
    """
    from fiware_sandbox import run_sandbox

    def on_ready(urls: dict[str, str]) -> None:
        typer.echo("FIWARE sandbox ready. Point Chronos at it with:")
        for key, url in urls.items():
            if key in ("orion_ld_url", "ngsi_ld_temporal_url"):
                continue
            typer.echo(f"  export CHRONOS_{key.upper()}={url}")
        if ngsi_ld:
            for name, value in ld_environment(urls).items():
                typer.echo(f"  export {name}={value}")
        typer.echo("Stop it with Ctrl-C.")

    run_sandbox(
        host,
        sth_port,
        orion_port,
        iot_agent_port,
        on_ready,
        setup=serve_chronos_context if ngsi_ld else None,
        orion_ld_port=orion_ld_port if ngsi_ld else None,
        temporal_port=temporal_port if ngsi_ld else None,
    )
    typer.echo("FIWARE sandbox stopped.")
