"""Client for the IoT Agent northbound (provisioning) API, and device discovery.

Recorded behaviour it relies on: both ``fiware-service`` and ``fiware-servicepath`` are mandatory;
lists are ``{count, devices|services}`` where ``count`` is the total whatever ``limit``/``offset``;
creation answers 201 ``{}``; the memory registry answers 404 ``DEVICE_GROUP_NOT_FOUND`` instead of
an empty group list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, TypedDict

from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import FiwareClient
from chronos_core.fiware.errors import FiwareNotFound, RequestTarget
from chronos_core.fiware.http import segment
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
    """Devices and service groups of an IoT Agent. A context manager."""

    service_name = SERVICE_NAME
    service_key = "iot_agent"

    def about(self) -> dict[str, Any]:
        return self._http.get_object("/iot/about", "the /iot/about answer")

    def list_devices(self, tenant: Tenant, *, page_size: int = 100) -> list[dict[str, Any]]:
        """Every device of the tenant, reading all pages."""
        return self._http.read_list(
            "/iot/devices", page_size=page_size, key="devices", tenant=tenant
        )

    def get_device(self, tenant: Tenant, device_id: str) -> dict[str, Any]:
        return self._http.get_object(
            f"/iot/devices/{segment(device_id)}",
            "the device",
            tenant=tenant,
            target=RequestTarget(device_id=device_id),
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

    def update_device(self, tenant: Tenant, device_id: str, changes: Mapping[str, Any]) -> None:
        if "device_id" in changes:
            raise InvalidInput("a device's id cannot be changed")
        self._http.request(
            "PUT",
            f"/iot/devices/{segment(device_id)}",
            tenant=tenant,
            json=dict(changes),
            target=RequestTarget(device_id=device_id),
        )

    def delete_device(self, tenant: Tenant, device_id: str, *, missing_ok: bool = False) -> bool:
        return self._http.delete(
            f"/iot/devices/{segment(device_id)}",
            missing_ok=missing_ok,
            tenant=tenant,
            target=RequestTarget(device_id=device_id),
        )

    def list_service_groups(
        self,
        tenant: Tenant,
        *,
        resource: str | None = None,
        apikey: str | None = None,
        page_size: int = 100,
    ) -> list[dict[str, Any]]:
        """Every service group of the tenant (an empty list when there is none)."""
        params: list[tuple[str, str]] = []
        if resource is not None:
            params.append(("resource", resource))
        if apikey is not None:
            params.append(("apikey", apikey))
        try:
            return self._http.read_list(
                "/iot/services", page_size=page_size, params=params, key="services", tenant=tenant
            )
        except FiwareNotFound as exc:
            if exc.server_error == "DEVICE_GROUP_NOT_FOUND":
                return []
            raise

    def provision_service_groups(self, tenant: Tenant, groups: Sequence[Mapping[str, Any]]) -> None:
        """Create service groups (409 :class:`FiwareConflict` if apikey/resource exist)."""
        if not groups:
            raise InvalidInput("give at least one service group")
        for group in groups:
            if (
                not isinstance(group, Mapping)
                or not group.get("apikey")
                or not group.get("resource")
            ):
                raise InvalidInput("every service group needs an 'apikey' and a 'resource'")
        self._http.request(
            "POST", "/iot/services", tenant=tenant, json={"services": [dict(g) for g in groups]}
        )

    def discover_entities(
        self, tenant: Tenant, *, exclude_entity_types: Collection[str] = ()
    ) -> dict[str, list[DiscoveredEntity]]:
        """:func:`group_devices_by_entity_type` over :meth:`list_devices`."""
        return group_devices_by_entity_type(
            self.list_devices(tenant), exclude_entity_types=exclude_entity_types
        )
