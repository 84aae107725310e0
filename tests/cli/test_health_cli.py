"""``chronos health`` against the test database and the FIWARE sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chronos_core.services.health import TEMPORAL_API_MISCONFIGURED
from fiware_sandbox import Fault

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)


def test_health_up(chronos: Invoke, fiware: Any) -> None:
    result = chronos("health", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["status"] == "up"
    assert {s["name"] for s in report["services"]} == {"mongodb", "sth-comet", "orion", "iot-agent"}
    table = chronos("health")
    assert "Chronos health: up" in table.stdout and "orion" in table.stdout


def test_health_degraded_exit_code(
    chronos: Invoke, fiware: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fiware.orion.inject_faults(Fault.server_error(500))
    result = chronos("health", "--json")
    assert result.exit_code == 1
    report = result.json()
    assert report["status"] == "degraded"
    orion = next(s for s in report["services"] if s["name"] == "orion")
    assert orion["status"] == "down" and orion["detail"] == "HTTP 500"


def test_health_checks_prefect_api_when_configured(
    chronos: Invoke, fiware: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens there: the Prefect row is down, Chronos itself is degraded.
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    result = chronos("health", "--json")
    assert result.exit_code == 1
    prefect = next(s for s in result.json()["services"] if s["name"] == "prefect-api")
    assert prefect["status"] == "down"


@pytest.fixture
def ld_fiware(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A sandbox with Orion-LD, the temporal API and the IoT Agent, in NGSI-LD mode."""
    from cli.sandbox import ld_environment, serve_chronos_context
    from fiware_sandbox import FiwareSandbox

    ports = {"sth_port": None, "orion_port": None, "iot_agent_port": 0}
    with FiwareSandbox(**ports, orion_ld_port=0, temporal_port=0) as box:
        serve_chronos_context(box)
        monkeypatch.setenv("CHRONOS_IOT_AGENT_URL", box.iot_agent_url)
        for name, value in ld_environment(box.urls).items():
            monkeypatch.setenv(name, value)
        yield box


def test_health_in_ngsi_ld_mode(chronos: Invoke, ld_fiware: Any) -> None:
    result = chronos("health", "--json")
    assert result.exit_code == 0, result.stdout
    report = result.json()
    assert report["status"] == "up"
    services = {s["name"]: s for s in report["services"]}
    assert set(services) == {"mongodb", "orion-ld", "ngsi-ld-temporal", "iot-agent"}
    assert services["orion-ld"]["version"] == "1.6.0"
    assert services["ngsi-ld-temporal"]["target"].startswith(ld_fiware.temporal_url)


def test_health_names_orion_ld_as_temporal_api_a_misconfiguration(
    chronos: Invoke, ld_fiware: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unset: history would be read from Orion-LD, which answers 501 "please use Mintaka".
    monkeypatch.delenv("CHRONOS_NGSI_LD_TEMPORAL_URL")
    result = chronos("health", "--json")
    assert result.exit_code == 1
    temporal = next(s for s in result.json()["services"] if s["name"] == "ngsi-ld-temporal")
    assert temporal["status"] == "down"
    assert temporal["detail"].startswith(TEMPORAL_API_MISCONFIGURED)
    assert "CHRONOS_NGSI_LD_TEMPORAL_URL is unset" in temporal["detail"]
    assert "please use Mintaka" in temporal["detail"]
    table = chronos("health")
    assert "misconfigured" in table.stdout
