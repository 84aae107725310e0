"""Model management: register, change, read, list and delete forecasting models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from chronos_core.domain.enums import ModelStatus
from chronos_core.domain.identifiers import parse_id
from chronos_core.domain.model import Model, ModelDefinition, ModelUpdate
from chronos_core.domain.validation import parse_input
from chronos_core.errors import Conflict, InvalidInput, NotFound
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.model_repository import DEFAULT_PAGE_SIZE, ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository

Db = Database[dict[str, Any]]
MODEL_FILTERS = ("model_type", "status", "entity_id", "feature")


@dataclass(frozen=True)
class ModelDeletion:
    """What deleting a model removed."""

    model_id: str
    training_jobs_deleted: int
    artifacts_deleted: int


def register_model(
    db: Db, definition: Mapping[str, Any] | ModelDefinition, settings: Settings | None = None
) -> Model:
    """Validate ``definition`` and store a new draft model (nothing is written on bad input)."""
    settings = settings or get_settings()
    parsed = parse_input(ModelDefinition, definition)
    model = Model.register(
        parsed, service=settings.fiware_service, service_path=settings.fiware_servicepath
    )
    return ModelRepository(db).insert(model)


def get_model(db: Db, model_id: str) -> Model:
    return ModelRepository(db).get(parse_id(model_id, "model id"))


def list_models(
    db: Db,
    filters: Mapping[str, Any] | None = None,
    skip: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
) -> list[Model]:
    """Models matching ``filters`` (model_type, status, entity_id, feature), newest first."""
    return ModelRepository(db).list(**_check_filters(filters), skip=skip, limit=limit)


def count_models(db: Db, filters: Mapping[str, Any] | None = None) -> int:
    return ModelRepository(db).count(**_check_filters(filters))


def _check_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise InvalidInput(f"filters must be an object, got {type(filters).__name__}")
    unknown = sorted(str(k) for k in filters if k not in MODEL_FILTERS)
    if unknown:
        raise InvalidInput(
            f"unknown model filter {', '.join(unknown)} (allowed: {', '.join(MODEL_FILTERS)})"
        )
    return {key: value for key, value in filters.items() if value is not None}


def update_model(db: Db, model_id: str, changes: Mapping[str, Any] | ModelUpdate) -> Model:
    """Change a draft model's definition.

    The merged definition is validated as a whole (so ``validation_ratio + test_ratio`` or
    ``early_stopping_patience <= epochs`` are checked against the stored values too). An
    ``epochs`` change never rewrites an explicit patience: if that patience no longer fits, the
    update is refused and the caller changes both.
    """
    model_id = parse_id(model_id, "model id")
    update = parse_input(ModelUpdate, changes).changes()
    if not update:
        allowed = ", ".join(ModelUpdate.model_fields)
        raise InvalidInput(f"no changes given (fields that can change: {allowed})")
    repository = ModelRepository(db)
    current = repository.get(model_id)
    if not current.is_editable:
        raise Conflict(
            f"model {model_id} is {current.status.value}; only draft models can be changed"
        )
    merged = current.definition().model_dump(exclude_unset=False) | update
    _refresh_generated_texts(current, merged, update)
    definition = parse_input(ModelDefinition, merged)
    revised = Model.register(definition, service=current.service, service_path=current.service_path)
    stored = current.definition().model_dump()
    wanted = revised.definition().model_dump()
    fields = {name: value for name, value in wanted.items() if value != stored.get(name)}
    if not fields:
        return current
    return repository.update_draft(model_id, fields, expected_updated_at=current.updated_at)


def _refresh_generated_texts(
    current: Model, merged: dict[str, Any], update: Mapping[str, Any]
) -> None:
    """Regenerate a default name/description when the type or feature it was built from changes."""
    label = current.model_type.label
    if "name" not in update and current.name == f"{label} - {current.feature}":
        merged["name"] = None
    if (
        "description" not in update
        and current.description == f"{label} model for {current.feature} forecasting"
    ):
        merged["description"] = None


def delete_model(db: Db, model_id: str) -> ModelDeletion:
    """Delete a model with its training jobs, artifacts and stored forecasts.

    Refused (Conflict naming the job) while a training job of the model is active. The model
    document goes first, conditionally on it not being in training, so no new job can start for
    it while its jobs and files are removed.
    """
    model_id = parse_id(model_id, "model id")
    models = ModelRepository(db)
    jobs = TrainingJobRepository(db)
    model = models.get(model_id)
    active = jobs.active_for_model(model_id)
    if active is not None:
        raise Conflict(
            f"model {model_id} has an active training job {active.id} ({active.status.value}); "
            "cancel it and wait for it to stop before deleting the model",
            details={"active_job_id": active.id},
        )
    if not models.delete(model_id, unless_status=[ModelStatus.TRAINING]):
        if not models.exists(model_id):
            raise NotFound(f"model {model_id} not found")
        raise Conflict(f"model {model_id} is being trained; try again when training has stopped")
    artifacts = ArtifactStore(db).delete_for_model(model.id)
    deleted_jobs = jobs.delete_for_model(model.id)
    ForecastRepository(db).delete_for_model(model.id)
    return ModelDeletion(
        model_id=model.id, training_jobs_deleted=deleted_jobs, artifacts_deleted=artifacts
    )
