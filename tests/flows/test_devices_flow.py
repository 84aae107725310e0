"""discover-devices through Prefect against the sandbox IoT Agent."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.artifacts import Artifact
from prefect.exceptions import ParameterTypeError

from chronos_core.fiware.iot_agent import IoTAgentClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import get_settings
from flows.devices import DEVICES_ARTIFACT_KEY, discover_devices

pytestmark = pytest.mark.prefect


def test_discover_devices_groups_and_publishes(sandbox: Any) -> None:
    devices = [
        {
            "device_id": f"sensor00{i}",
            "entity_name": f"Room{i}",
            "entity_type": "Room",
            "attributes": [
                {"object_id": "t", "name": "temperature", "type": "Number"},
                {"object_id": "h", "name": "humidity", "type": "Number"},
            ],
        }
        for i in (1, 2)
    ] + [
        {
            "device_id": "fc1",
            "entity_name": "urn:ngsi-ld:Forecast:Room:Room1:temperature",
            "entity_type": get_settings().forecast_entity_type,
            "attributes": [{"object_id": "f", "name": "forecast", "type": "StructuredValue"}],
        }
    ]
    with IoTAgentClient(settings=get_settings()) as client:
        client.provision_devices(Tenant("smartcity", "/sensors"), devices)

    result = discover_devices(service="smartcity", service_path="/sensors")

    assert result["device_count"] == 2 and result["excluded_devices"] == 1
    (room,) = result["entity_types"]
    assert room["entity_type"] == "Room"
    assert [(a["name"], a["entities"]) for a in room["attributes"]] == [
        ("humidity", ["Room1", "Room2"]),
        ("temperature", ["Room1", "Room2"]),
    ]
    artifact = Artifact.get(DEVICES_ARTIFACT_KEY)
    assert artifact is not None and "temperature" in str(artifact.data)


def test_invalid_tenant_is_refused_before_the_run(sandbox: Any) -> None:
    with pytest.raises(ParameterTypeError, match="service_path"):
        discover_devices(service="smartcity", service_path="sensors")
