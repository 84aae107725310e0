"""``chronos sandbox``: the local FIWARE emulation (STH-Comet, Orion, IoT Agent; with
``--ngsi-ld`` also Orion-LD and the NGSI-LD temporal API)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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


DEMO_SEED = "demo"


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
    seed: Annotated[
        str | None,
        typer.Option(
            help="Fill STH-Comet (and the Orion entity) with a history: 'demo' for the shipped "
            "buoy sea-surface temperature series, or a CSV file with timestamp,value columns.",
        ),
    ] = None,
    entity_type: Annotated[
        str | None, typer.Option(help="Entity type of the seeded series (demo: Buoy).")
    ] = None,
    entity_id: Annotated[
        str | None, typer.Option(help="Entity id of the seeded series (demo: NERACOOS-B01).")
    ] = None,
    attribute: Annotated[
        str | None, typer.Option(help="Attribute of the seeded series (demo: temperature).")
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="FIWARE service to seed (default CHRONOS_FIWARE_SERVICE).")
    ] = None,
    service_path: Annotated[
        str | None,
        typer.Option(help="FIWARE service path to seed (default CHRONOS_FIWARE_SERVICEPATH)."),
    ] = None,
) -> None:
    """Serve the FIWARE sandbox (in-memory STH-Comet, Orion and IoT Agent) until Ctrl-C/SIGTERM.

    For demos and trials without a FIWARE stack; it keeps everything in memory. With --seed it
    starts with one attribute's history, ready to register and train a model on. With --ngsi-ld
    it also serves Orion-LD (with the Chronos @context) and the NGSI-LD temporal API.
    """
    from fiware_sandbox import run_sandbox

    seeding = _seed_plan(seed, entity_type, entity_id, attribute, service, service_path)

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

    def setup(box: FiwareSandbox) -> None:
        if ngsi_ld:
            serve_chronos_context(box)
        if seeding is not None:
            typer.echo(_seed(box, seeding))

    run_sandbox(
        host,
        sth_port,
        orion_port,
        iot_agent_port,
        on_ready,
        setup=setup,
        orion_ld_port=orion_ld_port if ngsi_ld else None,
        temporal_port=temporal_port if ngsi_ld else None,
    )
    typer.echo("FIWARE sandbox stopped.")


def _seed_plan(
    seed: str | None,
    entity_type: str | None,
    entity_id: str | None,
    attribute: str | None,
    service: str | None,
    service_path: str | None,
) -> dict[str, Any] | None:
    """Validate the seeding options before anything starts (one clear error otherwise)."""
    from chronos_core.domain.identifiers import (
        check_fiware_service,
        check_fiware_servicepath,
        check_ngsi_name,
    )
    from chronos_core.errors import InvalidInput
    from cli.context import load_settings

    given = [entity_type, entity_id, attribute, service, service_path]
    if seed is None:
        if any(value is not None for value in given):
            raise InvalidInput("--entity-type, --entity-id, --attribute, --service and "
                               "--service-path only apply with --seed")  # fmt: skip
        return None
    from cli import demo

    if seed != DEMO_SEED and not Path(seed).expanduser().is_file():
        raise InvalidInput(f"--seed must be 'demo' or a CSV file; {seed!r} is neither")
    settings = load_settings()
    try:
        plan = {
            "source": seed,
            "entity_type": check_ngsi_name(entity_type or demo.ENTITY_TYPE, "entity type"),
            "entity_id": check_ngsi_name(entity_id or demo.ENTITY_ID, "entity id"),
            "attribute": check_ngsi_name(attribute or demo.FEATURE, "attribute"),
            "service": check_fiware_service(service or settings.fiware_service),
            "service_path": check_fiware_servicepath(service_path or settings.fiware_servicepath),
        }
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return plan


def _seed(box: FiwareSandbox, plan: dict[str, Any]) -> str:
    """Store the history in STH-Comet and its newest value in Orion; say what was seeded."""
    from chronos_core.fiware.tenant import Tenant
    from cli import demo
    from fiware_sandbox.seeding import read_series_csv

    tenant = Tenant(plan["service"], plan["service_path"])
    if plan["source"] == DEMO_SEED:
        series = demo.load_demo_series()
        pairs = list(zip(series.index.to_pydatetime(), series.to_numpy(), strict=True))
        where = "the demo buoy series"
    else:
        pairs = read_series_csv(Path(plan["source"]).expanduser())
        where = plan["source"]
    if not pairs:
        from chronos_core.errors import InvalidInput

        raise InvalidInput(f"{where} holds no values to seed")
    stored = box.sth.seed(tenant, plan["entity_type"], plan["entity_id"], plan["attribute"], pairs)
    _upsert_source_entity(box, tenant, plan, pairs[-1][1])
    first, last = min(p[0] for p in pairs), max(p[0] for p in pairs)
    return (
        f"Seeded {stored} points of {plan['entity_type']} {plan['entity_id']} "
        f"{plan['attribute']} (service {plan['service']}, path {plan['service_path']}) from "
        f"{where}, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC."
    )


def _upsert_source_entity(
    box: FiwareSandbox, tenant: Any, plan: dict[str, Any], value: Any
) -> None:
    from chronos_core.fiware.orion import OrionClient
    from cli.context import load_settings

    settings = load_settings().model_copy(update={"orion_url": box.urls["orion_url"]})
    attr_type = "Number" if isinstance(value, int | float) else "Text"
    plain = float(value) if attr_type == "Number" else value
    with OrionClient(settings=settings) as orion:
        orion.upsert_entity(
            tenant,
            {
                "id": plan["entity_id"],
                "type": plan["entity_type"],
                plan["attribute"]: {"type": attr_type, "value": plain},
            },
        )
