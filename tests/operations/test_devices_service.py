"""Device discovery against the sandbox IoT Agent (devices provisioned through its API)."""

from __future__ import annotations

from typing import Any

import pytest

from chronos_core.errors import InvalidInput
from chronos_core.fiware.iot_agent import IoTAgentClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.services.devices import discover_devices
from chronos_core.settings import get_settings

SENSORS = Tenant("smartcity", "/sensors")


def _device(
    device_id: str, entity: str, entity_type: str, *attrs: tuple[str, str]
) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "entity_name": entity,
        "entity_type": entity_type,
        "protocol": "PDI-IoTA-UltraLight",
        "transport": "HTTP",
        "attributes": [{"object_id": n[0], "name": n, "type": t} for n, t in attrs],
        "static_attributes": [{"name": "floor", "type": "Text", "value": "1"}],
        "lazy": [{"name": "battery", "type": "Number"}],
    }


def _provision(devices: list[dict[str, Any]], tenant: Tenant = SENSORS) -> None:
    with IoTAgentClient(settings=get_settings()) as client:
        client.provision_devices(tenant, devices)


def test_devices_grouped_by_entity_type_and_attribute(fiware: Any) -> None:
    _provision(
        [
            _device(
                "sensor001", "Room1", "Room", ("temperature", "Number"), ("humidity", "Number")
            ),
            _device("sensor002", "Room2", "Room", ("temperature", "Number")),
            _device("meter001", "Meter1", "PowerMeter", ("power", "Number")),
            _device(
                "forecast001",
                "urn:ngsi-ld:Forecast:Room:Room1:temperature",
                "Forecast",
                ("forecast", "StructuredValue"),
            ),
        ]
    )
    catalog = discover_devices(get_settings(), service="smartcity", service_path="/sensors")
    assert catalog.device_count == 3 and catalog.excluded_devices == 1
    assert [group.entity_type for group in catalog.entity_types] == ["PowerMeter", "Room"]
    assert catalog.rows() == [
        {
            "entity_type": "PowerMeter",
            "attribute": "power",
            "attribute_type": "Number",
            "entities": "Meter1",
            "devices": "meter001",
        },
        {
            "entity_type": "Room",
            "attribute": "humidity",
            "attribute_type": "Number",
            "entities": "Room1",
            "devices": "sensor001",
        },
        {
            "entity_type": "Room",
            "attribute": "temperature",
            "attribute_type": "Number",
            "entities": "Room1, Room2",
            "devices": "sensor001, sensor002",
        },
    ]
    room = catalog.entity_types[1]
    # Static and lazy attributes are not history Chronos could train on.
    assert room.entities[0].attributes == ["temperature", "humidity"]


def test_every_page_is_read(fiware: Any) -> None:
    _provision([_device(f"s{i:03d}", f"Room{i}", "Room", ("t", "Number")) for i in range(130)])
    catalog = discover_devices(get_settings(), service="smartcity", service_path="/sensors")
    assert catalog.device_count == 130


def test_default_tenant_and_empty_answer(fiware: Any) -> None:
    catalog = discover_devices(get_settings())
    assert (catalog.service, catalog.service_path) == ("smart", "/")
    assert catalog.device_count == 0 and catalog.rows() == []


def test_invalid_tenant_is_refused(fiware: Any) -> None:
    with pytest.raises(InvalidInput, match="FIWARE"):
        discover_devices(get_settings(), service="Smart City")
