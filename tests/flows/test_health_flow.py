"""chronos-health through Prefect, with the FIWARE sandbox and with services down."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from prefect.artifacts import Artifact

from chronos_core.settings import get_settings
from fiware_sandbox import Fault
from flows.health import HEALTH_ARTIFACT_KEY, chronos_health

pytestmark = pytest.mark.prefect


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_health_flow_reports_and_publishes_a_table(sandbox: Any) -> None:
    report = chronos_health()
    assert report["status"] == "up"
    assert [s["name"] for s in report["services"]] == ["mongodb", "sth-comet", "orion", "iot-agent"]
    artifact = Artifact.get(HEALTH_ARTIFACT_KEY)
    assert artifact is not None and artifact.type == "table"
    assert "iot-agent" in str(artifact.data)


def test_health_flow_with_one_service_down(sandbox: Any) -> None:
    sandbox.orion.inject_faults(Fault.server_error(503))
    report = chronos_health()
    assert report["status"] == "degraded"
    statuses = {s["name"]: s["status"] for s in report["services"]}
    assert statuses == {"mongodb": "up", "sth-comet": "up", "orion": "down", "iot-agent": "up"}


def test_health_flow_with_every_fiware_service_down(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = _closed_port_url()
    for name in ("STH_URL", "ORION_URL", "IOT_AGENT_URL"):
        monkeypatch.setenv(f"CHRONOS_{name}", closed)
    get_settings.cache_clear()
    report = chronos_health()
    assert report["status"] == "down"
    assert {s["name"]: s["status"] for s in report["services"]}["mongodb"] == "up"
