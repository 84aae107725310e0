"""Device discovery: what the IoT Agent can tell us Chronos could forecast.

The IoT Agent's devices of one tenant are read (every page) and grouped by entity type, then by
attribute: for each ``(entity type, attribute)`` the entities that provide it. Only a device's
active ``attributes`` count (not lazy, static or command ones). Chronos' own forecast entities
(``CHRONOS_FORECAST_ENTITY_TYPE``) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from chronos_core.fiware.iot_agent import IoTAgentClient, group_devices_by_entity_type
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings


class DiscoveredEntity(BaseModel):
    """One device's entity."""

    model_config = ConfigDict(frozen=True)

    entity_name: str
    device_id: str
    attributes: list[str]


class AttributeSummary(BaseModel):
    """One attribute of an entity type, and who provides it."""

    model_config = ConfigDict(frozen=True)

    name: str
    types: list[str] = Field(description="NGSI types the devices declare for it.")
    entities: list[str]
    devices: list[str]


class EntityTypeGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    entity_type: str
    entities: list[DiscoveredEntity]
    attributes: list[AttributeSummary]


class DeviceCatalog(BaseModel):
    """The IoT Agent's devices of one tenant, grouped."""

    model_config = ConfigDict(frozen=True)

    service: str
    service_path: str
    device_count: int = Field(description="Devices listed (forecast entities excluded).")
    excluded_devices: int = Field(description="Devices left out as Chronos forecast entities.")
    entity_types: list[EntityTypeGroup]

    def rows(self) -> list[dict[str, Any]]:
        """One row per (entity type, attribute), for tables."""
        return [
            {
                "entity_type": group.entity_type,
                "attribute": attribute.name,
                "attribute_type": ", ".join(attribute.types),
                "entities": ", ".join(attribute.entities),
                "devices": ", ".join(attribute.devices),
            }
            for group in self.entity_types
            for attribute in group.attributes
        ]


def _attribute_types(devices: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """``{(device_id, attribute name): [declared types]}``."""
    types: dict[tuple[str, str], list[str]] = {}
    for device in devices:
        device_id = device.get("device_id")
        for attribute in device.get("attributes") or []:
            if not isinstance(attribute, Mapping):
                continue
            name, kind = attribute.get("name"), attribute.get("type")
            if isinstance(device_id, str) and isinstance(name, str) and isinstance(kind, str):
                types.setdefault((device_id, name), []).append(kind)
    return types


def build_catalog(
    devices: list[dict[str, Any]], tenant: Tenant, *, forecast_entity_type: str
) -> DeviceCatalog:
    """Group raw IoT Agent devices (as ``GET /iot/devices`` lists them)."""
    grouped = group_devices_by_entity_type(devices, exclude_entity_types=[forecast_entity_type])
    declared = _attribute_types(devices)
    groups: list[EntityTypeGroup] = []
    for entity_type in sorted(grouped):
        entities = [DiscoveredEntity.model_validate(e) for e in grouped[entity_type]]
        by_attribute: dict[str, dict[str, list[str]]] = {}
        for entity in entities:
            for name in entity.attributes:
                summary = by_attribute.setdefault(
                    name, {"types": [], "entities": [], "devices": []}
                )
                for kind in declared.get((entity.device_id, name), []):
                    if kind not in summary["types"]:
                        summary["types"].append(kind)
                if entity.entity_name not in summary["entities"]:
                    summary["entities"].append(entity.entity_name)
                summary["devices"].append(entity.device_id)
        attributes = [
            AttributeSummary(name=name, **summary) for name, summary in sorted(by_attribute.items())
        ]
        groups.append(
            EntityTypeGroup(entity_type=entity_type, entities=entities, attributes=attributes)
        )
    listed = sum(len(group.entities) for group in groups)
    valid = sum(1 for d in devices if isinstance(d.get("device_id"), str) and d.get("device_id"))
    return DeviceCatalog(
        service=tenant.service,
        service_path=tenant.servicepath,
        device_count=listed,
        excluded_devices=valid - listed,
        entity_types=groups,
    )


def discover_devices(
    settings: Settings,
    *,
    service: str | None = None,
    service_path: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> DeviceCatalog:
    """Read every device of the tenant (default: the configured one) from the IoT Agent."""
    tenant = Tenant(service or settings.fiware_service, service_path or settings.fiware_servicepath)
    with IoTAgentClient(settings=settings, transport=transport) as client:
        devices = client.list_devices(tenant)
    return build_catalog(devices, tenant, forecast_entity_type=settings.forecast_entity_type)
