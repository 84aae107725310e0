"""Client for the IoT Agent northbound (provisioning) API, and device discovery.

Recorded behaviour it relies on: both ``fiware-service`` and ``fiware-servicepath`` are mandatory;
lists are ``{count, devices}`` where ``count`` is the total whatever ``limit``/``offset``;
provisioning answers 201 ``{}``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, TypedDict

from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import FiwareClient
from chronos_core.fiware.tenant import Tenant

SERVICE_NAME = "IoT Agent"
DEFAULT_ENTITY_TYPE = "Thing"


class DiscoveredEntity(TypedDict):
    """One device's entity, as device discovery reports it."""

    entity_name: str
    device_id: str
    attributes: list[str]


def group_devices_by_entity_type(
    devices: Iterable[Mapping[str, Any]],
    *,
    exclude_entity_types: Collection[str] = (),
) -> dict[str, list[DiscoveredEntity]]:
    """``{entity_type: [{entity_name, device_id, attributes}]}`` in device order.

    ``attributes`` lists the names of the devices' active ``attributes`` (not lazy, static or
    command ones), without duplicates. Devices whose entity type is in ``exclude_entity_types``
    (e.g. Chronos' own forecast entities) are left out. A device without ``entity_type`` is a
    ``Thing`` and one without ``entity_name`` is named ``<type>:<device_id>``, as the IoT Agent
    does.
    """
    excluded = set(exclude_entity_types)
    grouped: dict[str, list[DiscoveredEntity]] = {}
    for device in devices:
        device_id = device.get("device_id")
        if not isinstance(device_id, str) or not device_id:
            continue
        entity_type = device.get("entity_type")
        if not isinstance(entity_type, str) or not entity_type:
            entity_type = DEFAULT_ENTITY_TYPE
        if entity_type in excluded:
            continue
        entity_name = device.get("entity_name")
        if not isinstance(entity_name, str) or not entity_name:
            entity_name = f"{entity_type}:{device_id}"
        names: list[str] = []
        for attribute in device.get("attributes") or []:
            name = attribute.get("name") if isinstance(attribute, Mapping) else None
            if isinstance(name, str) and name and name not in names:
                names.append(name)
        grouped.setdefault(entity_type, []).append(
            {"entity_name": entity_name, "device_id": device_id, "attributes": names}
        )
    return grouped


class IoTAgentClient(FiwareClient):
    """Devices of an IoT Agent. A context manager."""

    service_name = SERVICE_NAME
    service_key = "iot_agent"

    def list_devices(self, tenant: Tenant, *, page_size: int = 100) -> list[dict[str, Any]]:
        """Every device of the tenant, reading all pages."""
        return self._http.read_list(
            "/iot/devices", page_size=page_size, key="devices", tenant=tenant
        )

    def provision_devices(self, tenant: Tenant, devices: Sequence[Mapping[str, Any]]) -> None:
        """Provision devices in one request (409 :class:`FiwareConflict` on a duplicate)."""
        if not devices:
            raise InvalidInput("give at least one device to provision")
        for device in devices:
            if not isinstance(device, Mapping) or not device.get("device_id"):
                raise InvalidInput("every device needs a 'device_id'")
        self._http.request(
            "POST", "/iot/devices", tenant=tenant, json={"devices": [dict(d) for d in devices]}
        )
