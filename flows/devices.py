"""The ``discover-devices`` flow: what could Chronos forecast?"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.failures import one_line_failures
from flows.parameters import FiwareService, FiwareServicePath
from tasks.devices import discover_devices_task

DEVICES_ARTIFACT_KEY = "chronos-devices"


@flow(name="discover-devices")
@one_line_failures
def discover_devices(
    service: FiwareService = None, service_path: FiwareServicePath = None
) -> dict[str, Any]:
    """List the IoT Agent's devices grouped by entity type and attribute.

    Publishes a table (entity type, attribute, entities providing it) as the artifact
    ``chronos-devices``; Chronos' own forecast entities are left out.

    Args:
        service: FIWARE service (tenant); empty for CHRONOS_FIWARE_SERVICE.
        service_path: FIWARE service path such as /rooms; empty for CHRONOS_FIWARE_SERVICEPATH.
    """
    catalog = discover_devices_task(service, service_path)
    rows = catalog.rows()
    create_table_artifact(
        table=rows or [{"entity_type": "", "attribute": "", "entities": "no devices"}],
        key=DEVICES_ARTIFACT_KEY,
        description=(
            f"IoT Agent devices in {catalog.service}{catalog.service_path}: "
            f"{catalog.device_count} device(s)"
        ),
    )
    return catalog.model_dump(mode="json")
