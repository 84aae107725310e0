"""CLI commands that run flows, end to end: the test database, the FIWARE sandbox, Prefect's
test harness and (for ``chronos train``) a real, tiny network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from prefect import flow, get_client
from prefect.states import Running
from pymongo.database import Database
from typer.testing import CliRunner

from chronos_core.fiware.errors import FiwareNotFound
from chronos_core.fiware.orion import OrionClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.services.models import register_model
from chronos_core.services.training_jobs import start_training_job
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.schema import MODELS, TRAINING_JOBS
from chronos_core.storage.training_job_repository import TrainingJobRepository

pytestmark = pytest.mark.prefect

TENANT = Tenant("smart", "/")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def chronos(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from cli.main import app

    # What `chronos` sets for itself; set here so that it is undone after the test.
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        get_settings.cache_clear()
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    yield invoke
    get_settings.cache_clear()


@flow(name="cli-test-run")
def a_flow() -> None:
    """Stands in for a training run in Prefect's records."""


def _running_flow_run_id() -> str:
    with get_client(sync_client=True) as client:
        return str(client.create_flow_run(a_flow, state=Running()).id)


@pytest.mark.slow
def test_create_train_forecast_and_schedule(chronos: Any, sandbox: Any, sine_series: Any) -> None:
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine_series(240))
    created = chronos(
        "models", "create", "--entity-type", "Room", "--entity-id", "Room1",
        "--feature", "temperature", "--epochs", "1", "--batch-size", "16",
        "--rnn-units", "4", "--lookback-window", "8", "--forecast-horizon", "2",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    model_id = created.stdout.strip()

    trained = chronos("train", model_id, "--last-n", "200", "--json")
    assert trained.exit_code == 0, trained.stderr
    job = trained.json()
    assert job["status"] == "completed" and job["model_id"] == model_id
    assert job["total_data_points_collected"] == 200
    assert job["metrics"]["rmse"] is not None

    shown = chronos("jobs", "show", job["id"])
    assert "completed" in shown.stdout and "Backtest" in shown.stdout
    assert "naive (repeat the last value)" in shown.stdout
    assert "Prediction intervals" in shown.stdout
    assert chronos("models", "show", model_id, "--json").json()["status"] == "trained"

    forecast = chronos("forecast", model_id, "--json")
    assert forecast.exit_code == 0, forecast.stderr
    assert len(forecast.json()["points"]) == 2

    enabled = chronos("predictions", "enable", job["id"], "--interval-seconds", "900", "--json")
    assert enabled.exit_code == 0, enabled.stderr
    swept = chronos("predictions", "run-due", "--json")
    assert swept.exit_code == 0, swept.stderr
    assert swept.json()["due"] == 1
    history = chronos("forecast", "history", model_id, "--no-actuals", "--json").json()
    assert len(history) == 2
    assert chronos("predictions", "disable", job["id"]).exit_code == 0
    assert (
        chronos("jobs", "show", job["id"], "--json").json()["prediction_config"]["enabled"] is False
    )

    cancel = chronos("jobs", "cancel", job["id"])
    assert cancel.exit_code == 4
    last_line = cancel.stderr.strip().splitlines()[-1]
    assert last_line.startswith("Error: training job") and "already ended" in last_line
    assert "Traceback" not in cancel.stderr


def test_train_refuses_bad_input_before_prefect(chronos: Any, db: Database[dict[str, Any]]) -> None:
    missing = chronos("train", str(uuid4()))
    assert missing.exit_code == 3 and "not found" in missing.stderr
    negative = chronos("train", str(uuid4()), "--last-n", "0")
    assert negative.exit_code == 2 and negative.stderr.count("\n") == 1
    assert db[TRAINING_JOBS].count_documents({}) == 0


def test_jobs_reconcile(chronos: Any, db: Database[dict[str, Any]], settings: Settings) -> None:
    def model(entity_id: str) -> str:
        definition = {"model_type": "lstm", "entity_type": "Room", "entity_id": entity_id,
                      "feature": "temperature"}  # fmt: skip
        return register_model(db, definition, settings).id

    lost = start_training_job(db, model("Room1"), 100, settings=settings)
    TrainingJobRepository(db).set_fields(
        lost.id, {"flow_run_id": str(uuid4())}
    )  # a run Prefect never heard of
    alive = start_training_job(db, model("Room2"), 100, settings=settings)
    TrainingJobRepository(db).set_fields(alive.id, {"flow_run_id": _running_flow_run_id()})
    killed = start_training_job(db, model("Room3"), 100, settings=settings)
    TrainingJobRepository(db).set_fields(killed.id, {"flow_run_id": _running_flow_run_id()})

    # Fresh jobs are within the grace period.
    assert chronos("jobs", "reconcile", "--json").json() == {"ended": []}

    result = chronos("jobs", "reconcile", "--grace-minutes", "0", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {"ended": [lost.id]}

    # A process killed outright leaves its run "running" in Prefect: end it by name.
    forced = chronos("jobs", "reconcile", "--dead", killed.id)
    assert forced.exit_code == 0 and killed.id in forced.stdout
    status = {doc["id"]: doc["status"] for doc in db[TRAINING_JOBS].find()}
    assert status == {lost.id: "failed", alive.id: "pending", killed.id: "failed"}
    again = chronos("jobs", "reconcile", "--dead", killed.id)
    assert again.exit_code == 4 and "already ended" in again.stderr


def test_delete_model_with_its_forecast_entity(
    chronos: Any, sandbox: Any, db: Database[dict[str, Any]], settings: Settings
) -> None:
    definition = {"model_type": "gru", "entity_type": "Room", "entity_id": "Room1",
                  "feature": "temperature"}  # fmt: skip
    model_id = register_model(db, definition, settings).id
    entity_id = "urn:ngsi-ld:Forecast:Room:Room1:temperature"
    with OrionClient(settings=get_settings()) as orion:
        orion.upsert_entity(
            TENANT, {"id": entity_id, "type": settings.forecast_entity_type,
                     "forecast": {"type": "StructuredValue", "value": {"series": []}}},
        )  # fmt: skip
    result = chronos("models", "delete", model_id, "--yes", "--delete-forecast-entity")
    assert result.exit_code == 0, result.stderr
    assert db[MODELS].count_documents({}) == 0
    with OrionClient(settings=get_settings()) as orion, pytest.raises(FiwareNotFound):
        orion.get_entity(TENANT, entity_id)
