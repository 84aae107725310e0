"""Model management use cases: validation, draft-only edits and cascading deletes."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

from chronos_core.domain.enums import ArtifactType, ModelStatus, TrainingStatus
from chronos_core.domain.identifiers import new_id
from chronos_core.domain.model import ModelDefinition
from chronos_core.domain.training_job import TrainingJob
from chronos_core.errors import Conflict, InvalidInput, NotFound
from chronos_core.services.models import (
    count_models,
    delete_model,
    get_model,
    list_models,
    register_model,
    update_model,
)
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository

Db = Database[dict[str, Any]]


def count(db: Db, collection: str = "models") -> int:
    return db[collection].count_documents({})


def test_register(db: Db, settings: Settings, model_definition: dict[str, Any]) -> None:
    model = register_model(db, model_definition, settings)
    assert model.status is ModelStatus.DRAFT
    assert model.name == "LSTM - temperature"
    assert model.service == settings.fiware_service
    assert model.service_path == settings.fiware_servicepath
    assert get_model(db, model.id) == model
    typed = register_model(db, ModelDefinition.model_validate(model_definition), settings)
    assert typed.id != model.id and count(db) == 2


def test_register_uses_process_settings_by_default(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    assert register_model(db, model_definition).service == settings.fiware_service


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_type": "LSTM"}, "model_type: must be one of 'lstm' or 'gru'"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "many"}, "batch_size"),
        ({"epochs": 1001}, "epochs"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"validation_ratio": 0.6, "test_ratio": 0.4}, "validation_ratio + test_ratio"),
        ({"lookback_window": 8761}, "lookback_window"),
        ({"rnn_layers": []}, "rnn_layers"),
        ({"dense_layers": [{"units": 2, "activation": "magic"}]}, "unknown activation"),
        ({"epochs": 3, "early_stopping_patience": 4}, "cannot exceed epochs (3)"),
        ({"entity_id": "Room$1"}, "entity_id"),
        ({"feature": "a" * 300}, "feature must be at most 256 characters"),
        ({"name": "n" * 101}, "name"),
        ({"rnn_unit": 4}, "rnn_unit: unknown field"),
        ({"status": "trained"}, "status: unknown field"),
        ({"id": "0b5f2f7e-5a4b-4c1e-9d1a-3f2e1d0c9b8a"}, "id: unknown field"),
    ],
)
def test_register_rejects_bad_input_and_writes_nothing(
    db: Db,
    settings: Settings,
    model_definition: dict[str, Any],
    changes: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        register_model(db, {**model_definition, **changes}, settings)
    assert message in str(caught.value)
    assert str(caught.value).startswith("invalid input: ")
    assert count(db) == 0


def test_register_rejects_non_objects(db: Db, settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="expected an object"):
        register_model(db, "lstm please", settings)  # type: ignore[arg-type]
    assert count(db) == 0


@pytest.mark.parametrize("bad_id", ["abc", "abc$def", "a.b", "", "{'$ne': 1}"])
def test_bad_ids_are_invalid_input(db: Db, bad_id: str) -> None:
    with pytest.raises(InvalidInput, match="is not a valid id"):
        get_model(db, bad_id)
    with pytest.raises(InvalidInput):
        update_model(db, bad_id, {"epochs": 3})
    with pytest.raises(InvalidInput):
        delete_model(db, bad_id)


def test_unknown_id_is_not_found(db: Db) -> None:
    missing = new_id()
    for call in (
        lambda: get_model(db, missing),
        lambda: update_model(db, missing, {"epochs": 3}),
        lambda: delete_model(db, missing),
    ):
        with pytest.raises(NotFound, match=f"model {missing} not found"):
            call()
    with pytest.raises(InvalidInput):
        get_model(db, {"$ne": None})  # type: ignore[arg-type]


def test_list_models(db: Db, settings: Settings, model_definition: dict[str, Any]) -> None:
    a = register_model(db, model_definition, settings)
    b = register_model(
        db, {**model_definition, "model_type": "gru", "feature": "humidity"}, settings
    )
    assert {m.id for m in list_models(db)} == {a.id, b.id}
    assert [m.id for m in list_models(db, {"model_type": "gru"})] == [b.id]
    assert [m.id for m in list_models(db, {"feature": "temperature", "status": "draft"})] == [a.id]
    assert len(list_models(db, None, skip=1, limit=1)) == 1
    assert count_models(db, {"entity_id": "Room1"}) == 2
    with pytest.raises(InvalidInput, match="unknown model filter colour"):
        list_models(db, {"colour": "red"})
    with pytest.raises(InvalidInput, match="limit"):
        list_models(db, limit=10_000)


class TestUpdate:
    def test_changes_a_draft(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, model_definition, settings)
        updated = update_model(db, model.id, {"batch_size": 8, "dense_layers": [{"units": 2}]})
        assert updated.batch_size == 8 and updated.dense_layers[0].units == 2
        assert updated.updated_at >= model.updated_at
        assert get_model(db, model.id) == updated

    def test_cross_field_rules_use_the_stored_values(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, {**model_definition, "test_ratio": 0.4}, settings)
        with pytest.raises(InvalidInput, match="validation_ratio \\+ test_ratio must be below 1"):
            update_model(db, model.id, {"validation_ratio": 0.6})
        assert get_model(db, model.id) == model  # nothing written

    def test_epochs_never_overwrite_an_explicit_patience(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(
            db, {**model_definition, "epochs": 50, "early_stopping_patience": 8}, settings
        )
        assert update_model(db, model.id, {"epochs": 30}).early_stopping_patience == 8
        with pytest.raises(InvalidInput, match="early_stopping_patience \\(8\\) cannot exceed"):
            update_model(db, model.id, {"epochs": 5})
        assert get_model(db, model.id).epochs == 30
        both = update_model(db, model.id, {"epochs": 5, "early_stopping_patience": 2})
        assert (both.epochs, both.early_stopping_patience) == (5, 2)

    def test_small_epochs_with_derived_patience(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, {**model_definition, "epochs": 100}, settings)
        updated = update_model(db, model.id, {"epochs": 3})
        assert updated.early_stopping_patience is None
        assert updated.effective_patience == 3

    def test_default_name_follows_type_and_feature(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, model_definition, settings)
        renamed = update_model(db, model.id, {"model_type": "gru", "feature": "humidity"})
        assert renamed.name == "GRU - humidity"
        assert renamed.description == "GRU model for humidity forecasting"
        named = register_model(db, {**model_definition, "name": "Mine"}, settings)
        assert update_model(db, named.id, {"model_type": "gru"}).name == "Mine"

    def test_bad_updates(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, model_definition, settings)
        cases: list[tuple[dict[str, Any], str]] = [
            ({}, "no changes given"),
            ({"status": "trained"}, "status: unknown field"),
            ({"batch_size": True}, "batch_size: must be a number"),
            ({"batch_size": None}, "batch_size"),
            ({"model_type": "LSTM"}, "model_type"),
            ({"entity_id": "bad id"}, "entity_id"),
        ]
        for changes, message in cases:
            with pytest.raises(InvalidInput, match=message):
                update_model(db, model.id, changes)
        assert get_model(db, model.id) == model

    def test_unchanged_values_write_nothing(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, model_definition, settings)
        assert update_model(db, model.id, {"epochs": model.epochs}) == model

    def test_only_drafts(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, model_definition, settings)
        ModelRepository(db).transition(model.id, ModelStatus.DRAFT, ModelStatus.TRAINING)
        with pytest.raises(Conflict, match="is training; only draft models can be changed"):
            update_model(db, model.id, {"epochs": 3})


class TestDelete:
    def _with_history(
        self, db: Db, settings: Settings, definition: dict[str, Any]
    ) -> tuple[str, list[str]]:
        model = register_model(db, definition, settings)
        jobs = TrainingJobRepository(db)
        store = ArtifactStore(db)
        job_ids = []
        for status in (TrainingStatus.COMPLETED, TrainingStatus.FAILED):
            job = jobs.insert(TrainingJob(model_id=model.id, status=status))
            store.upload(
                b"bytes",
                "model.keras",
                model_id=model.id,
                training_job_id=job.id,
                artifact_type=ArtifactType.MODEL,
                content_type="application/zip",
            )
            job_ids.append(job.id)
        return model.id, job_ids

    def test_cascades_to_jobs_and_artifacts(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model_id, _ = self._with_history(db, settings, model_definition)
        other_id, other_jobs = self._with_history(db, settings, model_definition)
        deletion = delete_model(db, model_id)
        assert (deletion.training_jobs_deleted, deletion.artifacts_deleted) == (2, 2)
        assert not ModelRepository(db).exists(model_id)
        assert TrainingJobRepository(db).list_for_model(model_id) == []
        assert ArtifactStore(db).list_for_model(model_id) == []
        assert count(db, "model_artifacts.chunks") == 2  # the other model's file is intact
        other = TrainingJobRepository(db).list_for_model(other_id)
        assert {job.id for job in other} == set(other_jobs)

    def test_refused_while_a_job_is_active(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model_id, _ = self._with_history(db, settings, model_definition)
        ModelRepository(db).transition(model_id, ModelStatus.DRAFT, ModelStatus.TRAINING)
        active = TrainingJobRepository(db).insert(
            TrainingJob(model_id=model_id, status=TrainingStatus.COLLECTING_DATA)
        )
        with pytest.raises(Conflict, match=f"active training job {active.id}") as caught:
            delete_model(db, model_id)
        assert caught.value.details["active_job_id"] == active.id
        assert ModelRepository(db).exists(model_id)
        assert len(TrainingJobRepository(db).list_for_model(model_id)) == 3
        assert len(ArtifactStore(db).list_for_model(model_id)) == 2

    def test_refused_while_the_model_is_moving_to_training(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        model = register_model(db, model_definition, settings)
        ModelRepository(db).transition(model.id, ModelStatus.DRAFT, ModelStatus.TRAINING)
        with pytest.raises(Conflict, match="is being trained"):
            delete_model(db, model.id)
        assert ModelRepository(db).exists(model.id)
