"""``chronos devices``: what the IoT Agent knows, grouped by entity type and attribute."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import JsonOption, print_json, print_table


def devices(
    service: Annotated[
        str | None, typer.Option(help="FIWARE service (default: CHRONOS_FIWARE_SERVICE).")
    ] = None,
    service_path: Annotated[
        str | None,
        typer.Option(help="FIWARE service path (default: CHRONOS_FIWARE_SERVICEPATH)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List what can be forecast: the IoT Agent's entities and attributes.

    Devices are grouped by entity type and attribute; Chronos' own forecast entities are left
    out.
    """
    from chronos_core.services.devices import discover_devices
    from cli.context import load_settings

    catalog = discover_devices(load_settings(), service=service, service_path=service_path)
    if as_json:
        print_json(catalog)
        return
    print_table(
        catalog.rows(),
        {
            "Entity type": "entity_type",
            "Attribute": "attribute",
            "Type": "attribute_type",
            "Entities": "entities",
            "Devices": "devices",
        },
        title=(
            f"IoT Agent devices in {catalog.service}{catalog.service_path}: "
            f"{catalog.device_count} device(s)"
        ),
        empty=f"No devices in {catalog.service}{catalog.service_path}.",
    )
