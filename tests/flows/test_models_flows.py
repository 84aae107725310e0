"""register-model, update-model and delete-model through Prefect (the session's test harness)."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError
from pymongo.database import Database

from chronos_core.domain.model import ModelDefinition, ModelUpdate
from chronos_core.errors import Conflict, NotFound
from chronos_core.services.training_jobs import finish_job_failed, start_training_job
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.schema import MODELS, TRAINING_JOBS
from flows.models import delete_model, register_model, update_model

pytestmark = pytest.mark.prefect

ROOM1 = {
    "model_type": "lstm",
    "entity_type": "Room",
    "entity_id": "Room1",
    "feature": "temperature",
}


def test_register_update_delete(settings: Settings, db: Database[dict[str, Any]]) -> None:
    model_id = register_model(ModelDefinition.model_validate({**ROOM1, "epochs": 5}))
    stored = db[MODELS].find_one({"id": model_id})
    assert stored is not None and stored["status"] == "draft" and stored["epochs"] == 5
    assert stored["service"] == settings.fiware_service

    assert update_model(model_id, ModelUpdate(epochs=9, lookback_window=12)) == model_id
    stored = db[MODELS].find_one({"id": model_id})
    assert stored is not None and stored["epochs"] == 9 and stored["lookback_window"] == 12

    job = start_training_job(db, model_id, 100, settings=settings)
    ArtifactStore(db).upload(
        b"{}",
        "metadata.json",
        model_id=model_id,
        training_job_id=job.id,
        artifact_type="metadata",
        content_type="application/json",
    )
    with pytest.raises(Conflict, match="active training job"):
        delete_model(model_id)
    finish_job_failed(db, job.id, "STH-Comet unreachable")
    assert delete_model(model_id) == model_id
    assert db[MODELS].count_documents({}) == 0
    assert db[TRAINING_JOBS].count_documents({}) == 0
    assert ArtifactStore(db).list_for_model(model_id) == []


def test_parameters_are_validated_before_the_run(
    settings: Settings, db: Database[dict[str, Any]]
) -> None:
    # Plain dicts, as the UI and the API send them: Prefect validates them against the models.
    with pytest.raises(ParameterTypeError, match="epochs"):
        register_model({**ROOM1, "epochs": 0})  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="validation_ratio"):
        register_model({**ROOM1, "validation_ratio": 0.6, "test_ratio": 0.5})  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="model_id"):
        update_model("not-a-uuid", {"epochs": 3})  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="colour"):
        update_model("3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d", {"colour": "red"})  # type: ignore[arg-type]
    assert db[MODELS].count_documents({}) == 0


def test_update_and_delete_errors(settings: Settings, db: Database[dict[str, Any]]) -> None:
    missing = "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d"
    with pytest.raises(NotFound):
        delete_model(missing)
    model_id = register_model(ModelDefinition.model_validate(ROOM1))
    db[MODELS].update_one({"id": model_id}, {"$set": {"status": "trained"}})
    state = update_model(model_id, ModelUpdate(epochs=3), return_state=True)
    assert state.is_failed()
    assert "only draft models can be changed" in str(state.message)


def test_flow_parameter_forms_carry_titles_and_bounds() -> None:
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(register_model).model_dump()
    definition = schema["definitions"]["ModelDefinition"]["properties"]
    assert definition["epochs"]["title"] == "Epochs"
    assert definition["epochs"]["minimum"] == 1 and definition["epochs"]["maximum"] == 1000
    assert schema["definitions"]["ModelType"]["enum"] == ["lstm", "gru"]
    assert schema["properties"]["definition"]["description"].startswith("What to forecast")
    delete = parameter_schema(delete_model).model_dump()["properties"]
    assert delete["model_id"]["format"] == "uuid"  # refused by the API, no regex quoted
    assert delete["delete_forecast_entity"]["default"] is False
