"""Prefect task for device discovery (a thin wrapper over ``chronos_core.services.devices``)."""

from __future__ import annotations

from prefect import get_run_logger, task

from chronos_core.services.devices import DeviceCatalog, discover_devices
from chronos_core.settings import get_settings


@task(name="list-iot-agent-devices", tags=["iot-agent"], timeout_seconds=300)
def discover_devices_task(service: str | None, service_path: str | None) -> DeviceCatalog:
    """Read every device of the tenant from the IoT Agent and group them."""
    catalog = discover_devices(get_settings(), service=service, service_path=service_path)
    get_run_logger().info(
        "%d device(s) in %s%s, %d entity type(s); %d forecast device(s) left out",
        catalog.device_count,
        catalog.service,
        catalog.service_path,
        len(catalog.entity_types),
        catalog.excluded_devices,
    )
    return catalog
