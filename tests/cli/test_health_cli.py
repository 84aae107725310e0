"""``chronos health`` against the test database and the FIWARE sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chronos_core.sandbox import Fault

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
