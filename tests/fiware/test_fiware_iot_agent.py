"""IoTAgentClient against the sandbox IoT Agent, and device discovery grouping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chronos_core.fiware.errors import FiwareConflict
from chronos_core.fiware.iot_agent import IoTAgentClient, group_devices_by_entity_type
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings
from fiware_sandbox import FiwareSandbox

SENSORS = Tenant("smartcity", "/sensors")
RECORDINGS = Path(__file__).parents[1] / "sandbox" / "recordings"


def device(index: int, entity_type: str = "Room") -> dict:
    return {
        "device_id": f"sensor{index:03d}",
        "entity_name": f"Room{index}",
        "entity_type": entity_type,
        "transport": "HTTP",
        "attributes": [
            {"object_id": "t", "name": "temperature", "type": "Number"},
            {"object_id": "h", "name": "humidity", "type": "Number"},
        ],
    }


def test_devices_are_listed_across_pages(sandbox: FiwareSandbox, settings: Settings) -> None:
    with IoTAgentClient(settings=settings) as agent:
        for first in range(0, 230, 50):
            agent.provision_devices(SENSORS, [device(i) for i in range(first, first + 50)])
        listed = agent.list_devices(SENSORS, page_size=40)
    assert [d["device_id"] for d in listed] == [f"sensor{i:03d}" for i in range(250)]


def test_a_duplicate_device_is_a_conflict(sandbox: FiwareSandbox, settings: Settings) -> None:
    with IoTAgentClient(settings=settings) as agent:
        agent.provision_devices(SENSORS, [device(1)])
        with pytest.raises(FiwareConflict, match="DeviceId, ApiKey, Service, Subservice"):
            agent.provision_devices(SENSORS, [device(1)])


def test_discovery_groups_devices_and_skips_forecasts(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    with IoTAgentClient(settings=settings) as agent:
        agent.provision_devices(SENSORS, [device(1), device(2), device(3, "Forecast")])
        discovered = group_devices_by_entity_type(
            agent.list_devices(SENSORS), exclude_entity_types={"Forecast"}
        )
    assert discovered == {
        "Room": [
            {
                "entity_name": "Room1",
                "device_id": "sensor001",
                "attributes": ["temperature", "humidity"],
            },
            {
                "entity_name": "Room2",
                "device_id": "sensor002",
                "attributes": ["temperature", "humidity"],
            },
        ]
    }


def test_grouping_of_recorded_devices_and_defaults() -> None:
    recording = json.loads((RECORDINGS / "iot-agent.json").read_text(encoding="utf-8"))
    listed = next(c for c in recording["cases"] if c["name"] == "devices_list_all")
    grouped = group_devices_by_entity_type(listed["response"]["body"]["devices"])
    assert [e["entity_name"] for e in grouped["Room"]] == ["Room1", "Room2", "Room3"]
    assert grouped["Room"][0]["attributes"] == ["temperature", "humidity"]

    odd: list[dict] = [
        {"device_id": "d1", "attributes": [{"name": "t"}, {"name": "t"}, {"object_id": "x"}]},
        {"device_id": "d2", "entity_type": "Prediction", "attributes": []},
        {"entity_name": "no-id"},
    ]
    assert group_devices_by_entity_type(odd, exclude_entity_types=["Prediction"]) == {
        "Thing": [{"entity_name": "Thing:d1", "device_id": "d1", "attributes": ["t"]}]
    }
