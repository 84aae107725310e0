"""Prefect tasks for model management (thin wrappers over ``chronos_core.services.models``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import get_run_logger, task

from chronos_core.domain.model import ModelDefinition, ModelUpdate
from chronos_core.forecasting.publication import forecast_entity_id
from chronos_core.services import models as model_service
from chronos_core.settings import get_settings
from chronos_core.storage.database import get_database
from chronos_core.storage.model_repository import ModelRepository
from tasks.retries import retry_when_transient


@task(name="register-model", tags=["models", "mongodb"], timeout_seconds=120)
def register_model_task(definition: ModelDefinition) -> str:
    """Store a new draft model; returns its id."""
    model = model_service.register_model(get_database(), definition)
    get_run_logger().info("Registered model %s (%s)", model.id, model.name)
    return model.id


@task(name="update-model", tags=["models", "mongodb"], timeout_seconds=120)
def update_model_task(model_id: str, changes: ModelUpdate) -> str:
    """Change a draft model; returns its id."""
    model = model_service.update_model(get_database(), model_id, changes)
    fields = ", ".join(sorted(changes.changes())) or "nothing"
    get_run_logger().info("Updated model %s (%s)", model.id, fields)
    return model.id


@task(name="describe-forecast-entity", tags=["models", "mongodb"], timeout_seconds=120)
def forecast_entity_task(model_id: str) -> dict[str, Any]:
    """Where a model's forecasts live in Orion, and whether another model shares that entity."""
    db = get_database()
    model = model_service.get_model(db, model_id)
    siblings = [
        other.id
        for other in ModelRepository(db).list(
            entity_id=model.entity_id, feature=model.feature, limit=500
        )
        if other.id != model.id
        and other.entity_type == model.entity_type
        and other.service == model.service
        and other.service_path == model.service_path
    ]
    return {
        "entity_id": forecast_entity_id(model.entity_type, model.entity_id, model.feature),
        "entity_type": get_settings().forecast_entity_type,
        "service": model.service,
        "service_path": model.service_path,
        "shared_with": siblings,
    }


@task(name="delete-model-records", tags=["models", "mongodb"], timeout_seconds=600)
def delete_model_records_task(model_id: str) -> dict[str, Any]:
    """Delete the model, its training jobs and its GridFS artifacts."""
    deletion = model_service.delete_model(get_database(), model_id)
    get_run_logger().info(
        "Deleted model %s: %d training job(s), %d artifact(s)",
        deletion.model_id,
        deletion.training_jobs_deleted,
        deletion.artifacts_deleted,
    )
    return asdict(deletion)


@task(
    name="delete-forecast-entity",
    tags=["models", "orion"],
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=retry_when_transient,
    timeout_seconds=300,
)
def delete_forecast_entity_task(
    entity_id: str, entity_type: str, service: str, service_path: str
) -> bool:
    """Delete a forecast entity from Orion; ``False`` if it did not exist."""
    from chronos_core.fiware.orion import OrionClient
    from chronos_core.fiware.tenant import Tenant
    from chronos_core.forecasting.publication import remove_history_subscriptions

    tenant = Tenant(service, service_path)
    with OrionClient(settings=get_settings()) as orion:
        deleted = orion.delete_entity(tenant, entity_id, entity_type=entity_type, missing_ok=True)
        subscriptions = remove_history_subscriptions(orion, tenant, entity_id)
    logger = get_run_logger()
    if subscriptions:
        logger.info("Removed %d forecast-history subscription(s) of %s", subscriptions, entity_id)
    if deleted:
        logger.info(
            "Deleted forecast entity %s from Orion (%s%s)", entity_id, service, service_path
        )
    else:
        logger.info("Forecast entity %s was not in Orion (%s%s)", entity_id, service, service_path)
    return bool(deleted)
