"""``chronos sandbox``: the local FIWARE emulation (STH-Comet, Orion, IoT Agent; with
``--ngsi-ld`` also Orion-LD and the NGSI-LD temporal API), and the demo's buoy series."""

from __future__ import annotations

import gzip
import io
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from chronos_core.fiware.tenant import Tenant
    from chronos_core.settings import Settings
    from fiware_sandbox import FiwareSandbox

DEMO_SEED = "demo"
#: The shipped series: the NERACOOS B01 buoy's sea-surface temperature, every 30 minutes.
DEMO_DATA_FILE = "sea_surface_temperature.csv.gz"
DEMO_ENTITY_TYPE = "Buoy"
DEMO_ENTITY_ID = "NERACOOS-B01"
DEMO_FEATURE = "temperature"


def load_demo_series() -> Any:
    """The shipped buoy series as a float Series on a UTC index."""
    import pandas as pd

    raw = resources.files("chronos_core.data").joinpath(DEMO_DATA_FILE).read_bytes()
    frame = pd.read_csv(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    index = pd.DatetimeIndex(pd.to_datetime(frame.iloc[:, 0], utc=True), name="timestamp")
    return pd.Series(frame.iloc[:, 1].to_numpy(dtype="float64"), index=index)


def seed_series(
    box: FiwareSandbox,
    settings: Settings,
    tenant: Tenant,
    entity: tuple[str, str, str],
    pairs: list[tuple[Any, Any]],
) -> int:
    """Store ``(time, value)`` pairs of ``entity`` = (type, id, attribute) in the sandbox
    STH-Comet and the newest value in its Orion entity; returns the number stored."""
    from chronos_core.fiware.orion import OrionClient

    entity_type, entity_id, attribute = entity
    stored = int(box.sth.seed(tenant, entity_type, entity_id, attribute, pairs))
    value = pairs[-1][1]
    newest = (
        {"type": "Number", "value": float(value)}
        if isinstance(value, int | float)
        else {"type": "Text", "value": value}
    )
    orion_settings = settings.model_copy(update={"orion_url": box.orion_url})
    with OrionClient(settings=orion_settings) as orion:
        orion.upsert_entity(tenant, {"id": entity_id, "type": entity_type, attribute: newest})
    return stored


def serve_chronos_context(sandbox: FiwareSandbox) -> None:
    """Have the sandbox Orion-LD serve the Chronos ``@context`` (it must be started)."""
    from chronos_core.forecasting.ld_publication import chronos_context_document

    sandbox.orion_ld.serve_chronos_context(chronos_context_document())


def sandbox_environment(urls: dict[str, str], ngsi_ld: bool) -> dict[str, str]:
    """The ``CHRONOS_*`` variables that point Chronos at a sandbox serving ``urls``."""
    v2 = ("sth_url", "orion_url", "iot_agent_url")
    exports = {f"CHRONOS_{key.upper()}": urls[key] for key in v2 if key in urls}
    return exports | (ld_environment(urls) if ngsi_ld else {})


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
        for name, value in sandbox_environment(urls, ngsi_ld).items():
            typer.echo(f"  export {name}={value}")
        typer.echo("Stop it with Ctrl-C.")

    def setup(box: FiwareSandbox) -> None:
        if ngsi_ld:
            serve_chronos_context(box)
        if seeding is not None:
            typer.echo(_seed(box, *seeding))

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
) -> tuple[str, Tenant, tuple[str, str, str]] | None:
    """The source, tenant and entity to seed, checked before anything starts."""
    from chronos_core.domain.identifiers import check_ngsi_name
    from chronos_core.errors import InvalidInput
    from chronos_core.fiware.tenant import Tenant
    from cli.context import load_settings

    if seed is None:
        if any(v is not None for v in (entity_type, entity_id, attribute, service, service_path)):
            raise InvalidInput(
                "--entity-type, --entity-id, --attribute, --service and --service-path only "
                "apply with --seed"
            )
        return None
    if seed != DEMO_SEED and not Path(seed).expanduser().is_file():
        raise InvalidInput(f"--seed must be 'demo' or a CSV file; {seed!r} is neither")
    settings = load_settings()
    try:
        entity = (
            check_ngsi_name(entity_type or DEMO_ENTITY_TYPE, "entity type"),
            check_ngsi_name(entity_id or DEMO_ENTITY_ID, "entity id"),
            check_ngsi_name(attribute or DEMO_FEATURE, "attribute"),
        )
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    tenant = Tenant(service or settings.fiware_service, service_path or settings.fiware_servicepath)
    return seed, tenant, entity


def _seed(box: FiwareSandbox, source: str, tenant: Tenant, entity: tuple[str, str, str]) -> str:
    """Seed the history from ``source``; say what was seeded."""
    from chronos_core.errors import InvalidInput
    from cli.context import load_settings
    from fiware_sandbox.seeding import read_series_csv

    if source == DEMO_SEED:
        series = load_demo_series()
        pairs = list(zip(series.index.to_pydatetime(), series.to_numpy(), strict=True))
        where = "the demo buoy series"
    else:
        pairs = read_series_csv(Path(source).expanduser())
        where = source
    if not pairs:
        raise InvalidInput(f"{where} holds no values to seed")
    stored = seed_series(box, load_settings(), tenant, entity, pairs)
    first, last = min(p[0] for p in pairs), max(p[0] for p in pairs)
    return (
        f"Seeded {stored} points of {' '.join(entity)} (service {tenant.service}, path "
        f"{tenant.servicepath}) from {where}, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC."
    )
