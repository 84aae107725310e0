"""``chronos devices`` against the sandbox IoT Agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chronos_core.fiware.iot_agent import IoTAgentClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import get_settings

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)


def test_devices_table_and_json(chronos: Invoke, fiware: Any) -> None:
    with IoTAgentClient(settings=get_settings()) as client:
        client.provision_devices(
            Tenant("smart", "/"),
            [
                {
                    "device_id": "meter1",
                    "entity_name": "Meter1",
                    "entity_type": "PowerMeter",
                    "attributes": [{"object_id": "p", "name": "power", "type": "Number"}],
                }
            ],
        )
    result = chronos("devices", "--json")
    assert result.exit_code == 0, result.stderr
    catalog = result.json()
    assert (catalog["service"], catalog["service_path"]) == ("smart", "/")
    assert catalog["entity_types"][0]["attributes"][0]["entities"] == ["Meter1"]
    table = chronos("devices")
    assert "PowerMeter" in table.stdout and "power" in table.stdout
    empty = chronos("devices", "--service", "other")
    assert empty.exit_code == 0 and "No devices in other/" in empty.stdout


def test_devices_errors(chronos: Invoke, fiware: Any, monkeypatch: Any) -> None:
    bad = chronos("devices", "--service", "Smart City")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: invalid FIWARE tenant")
    monkeypatch.setenv("CHRONOS_IOT_AGENT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CHRONOS_HTTP_RETRIES", "0")
    down = chronos("devices")
    assert down.exit_code == 5
    assert down.stderr.count("\n") == 1 and "IoT Agent" in down.stderr
