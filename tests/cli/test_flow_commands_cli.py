"""The commands that run the forecasting flows: arguments, output and errors.

The forecasting flows live in ``flows/forecast.py`` and ``flows/predictions.py`` and have their
own tests. Here they are replaced by recorders (fake modules in ``sys.modules``) so that only
the commands' contract is under test: what they pass to the flow, what they print, and that bad
input fails before any flow runs. ``chronos train``, ``jobs cancel``, ``jobs reconcile`` and
``models delete --delete-forecast-entity`` run their real flows in tests/flows/test_cli_runs.py.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)

MODEL = "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d"
JOB = "0c8e9a4b-1f2d-4e3c-8b7a-6d5e4f3a2b1c"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    recorded: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(name: str, result: Any) -> Callable[..., Any]:
        def flow(*args: Any, **kwargs: Any) -> Any:
            recorded.append((name, args, kwargs))
            return result

        return flow

    forecast_module = types.ModuleType("flows.forecast")
    forecast_module.forecast = recorder(  # type: ignore[attr-defined]
        "forecast",
        {
            "model_id": MODEL,
            "training_job_id": JOB,
            "published": True,
            "series": [{"dateTime": "2026-01-01T01:00:00.000Z", "value": 21.5}],
        },
    )
    predictions_module = types.ModuleType("flows.predictions")
    predictions_module.enable_forecasts = recorder(  # type: ignore[attr-defined]
        "enable", {"training_job_id": JOB, "enabled": True, "interval_seconds": 900}
    )
    predictions_module.disable_forecasts = recorder(  # type: ignore[attr-defined]
        "disable", {"training_job_id": JOB, "enabled": False}
    )
    predictions_module.run_due_forecasts = recorder(  # type: ignore[attr-defined]
        "run_due", {"due": 2, "succeeded": 2, "failed": 0}
    )
    monkeypatch.setitem(sys.modules, "flows.forecast", forecast_module)
    monkeypatch.setitem(sys.modules, "flows.predictions", predictions_module)
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    return recorded


def test_forecast_defaults_to_run(chronos: Invoke, calls: list[Any]) -> None:
    result = chronos("forecast", MODEL, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["series"][0]["value"] == 21.5
    assert calls == [("forecast", (MODEL,), {"training_job_id": None, "publish": True})]

    table = chronos("forecast", "run", MODEL, "--job", JOB, "--no-publish")
    assert table.exit_code == 0 and "21.5" in table.stdout
    assert calls[-1] == ("forecast", (MODEL,), {"training_job_id": JOB, "publish": False})
    # Options may come first too.
    assert chronos("forecast", "--no-publish", MODEL).exit_code == 0


def test_predictions_commands(chronos: Invoke, calls: list[Any]) -> None:
    enabled = chronos("predictions", "enable", JOB, "--interval-seconds", "900", "--json")
    assert enabled.exit_code == 0 and enabled.json()["enabled"] is True
    assert chronos("predictions", "disable", JOB).exit_code == 0
    swept = chronos("predictions", "run-due", "--limit", "5", "--json")
    assert swept.json() == {"due": 2, "succeeded": 2, "failed": 0}
    assert calls == [
        ("enable", (JOB,), {"interval_seconds": 900}),
        ("disable", (JOB,), {}),
        ("run_due", (), {"limit": 5}),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["forecast", "model-1"],
        ["forecast", MODEL, "--job", "job-1"],
        ["predictions", "enable", "job-1"],
        ["predictions", "enable", JOB, "--interval-seconds", "0"],
        ["predictions", "disable", "x"],
        ["predictions", "run-due", "--limit", "0"],
    ],
)
def test_bad_input_never_reaches_a_flow(chronos: Invoke, calls: list[Any], args: list[str]) -> None:
    result = chronos(*args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert calls == []


def test_flow_errors_are_one_line(
    chronos: Invoke, calls: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chronos_core.errors import Conflict

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Conflict("training job is not completed; forecasts need a completed job")

    monkeypatch.setattr(sys.modules["flows.predictions"], "enable_forecasts", refuse)
    result = chronos("predictions", "enable", JOB)
    assert result.exit_code == 4
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: training job is not completed; forecasts need a completed job"
    )


def test_forecast_history_from_the_database(
    chronos: Invoke, db: Any, settings: Any, fiware: Any
) -> None:
    from datetime import timedelta

    from chronos_core.clock import utc_now
    from chronos_core.domain.forecast import ForecastPoint, ForecastRecord
    from chronos_core.services.models import register_model
    from chronos_core.storage.forecast_repository import ForecastRepository

    definition = {"model_type": "lstm", "entity_type": "Room", "entity_id": "Room1",
                  "feature": "temperature"}  # fmt: skip
    model_id = register_model(db, definition, settings).id
    issued = utc_now()
    ForecastRepository(db).insert(
        ForecastRecord(
            model_id=model_id,
            training_job_id=JOB,
            trigger="on_demand",
            issued_at=issued,
            service="smart",
            service_path="/",
            entity_type="Room",
            entity_id="Room1",
            feature="temperature",
            lookback_window=4,
            forecast_horizon=2,
            sampling_interval_seconds=900,
            last_observed_at=issued,
            points=[
                ForecastPoint(step=1, value=21.0, target_timestamp=issued + timedelta(minutes=15)),
                ForecastPoint(step=2, value=21.5, target_timestamp=issued + timedelta(minutes=30)),
            ],
            expires_at=issued + timedelta(days=1),
        )
    )
    listed = chronos("forecast", "history", model_id, "--json")
    assert listed.exit_code == 0, listed.stderr
    (entry,) = listed.json()
    assert [p["forecast"] for p in entry["points"]] == [21.0, 21.5]
    assert entry["known"] == 0  # the target times are still in the future
    table = chronos("forecast", "history", model_id, "--no-actuals")
    assert table.exit_code == 0 and "0/2" in table.stdout

    missing = chronos("forecast", "history", "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d")
    assert missing.exit_code == 3 and missing.stderr.startswith("Error: model")
