"""Model management flows: ``register-model``, ``update-model`` and ``delete-model``.

Their parameters are the domain's pydantic models, so the Prefect UI shows a form with titles,
descriptions, bounds and drop-downs, and Prefect refuses a bad value before the run starts.
Rules that span several fields (e.g. ``validation_ratio + test_ratio < 1``) are checked when the
run starts; a violation fails the run with one clear message and writes nothing.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger

from chronos_core.domain.identifiers import parse_id
from chronos_core.domain.model import ModelDefinition, ModelUpdate
from chronos_core.errors import ExternalServiceError
from flows.failures import one_line_failures
from flows.parameters import ModelId, checked, titled
from tasks.artifacts import publish_model_artifact, publish_model_deleted
from tasks.models import (
    delete_forecast_entity_task,
    delete_model_records_task,
    forecast_entity_task,
    register_model_task,
    update_model_task,
)


@checked
@flow(name="register-model", flow_run_name="register-{definition.entity_id}-{definition.feature}")
@one_line_failures
def register_model(definition: Annotated[ModelDefinition, titled("Model")]) -> str:
    """Register a forecasting model for one attribute of one entity; returns the model id.

    The model starts as a draft: change it with update-model, then train it with train-model.

    Args:
        definition: What to forecast (entity type, entity id, attribute) and how to build and
            train the network.
    """
    model_id = register_model_task(definition)
    publish_model_artifact(model_id)
    return model_id


@checked
@flow(name="update-model", flow_run_name="update-{model_id}")
@one_line_failures
def update_model(model_id: ModelId, changes: Annotated[ModelUpdate, titled("Changes")]) -> str:
    """Change fields of a draft model (a trained model cannot change); returns the model id.

    Args:
        model_id: The model to change (a UUID).
        changes: Only the fields that are filled in change.
    """
    updated = update_model_task(parse_id(model_id, "model id"), changes)
    publish_model_artifact(updated)
    return updated


@flow(name="delete-model", flow_run_name="delete-{model_id}")
@one_line_failures
def delete_model(
    model_id: ModelId,
    delete_forecast_entity: Annotated[bool, titled("Also delete the forecast entity")] = False,
) -> str:
    """Delete a model with its training jobs and stored artifacts; returns the model id.

    Refused while the model has an active training job (cancel it first).

    Args:
        model_id: The model to delete (a UUID).
        delete_forecast_entity: Also delete the model's forecast entity from Orion (kept when
            another model publishes to the same entity).
    """
    model_id = parse_id(model_id, "model id")
    logger = get_run_logger()
    target = forecast_entity_task(model_id) if delete_forecast_entity else None
    delete_model_records_task(model_id)
    publish_model_deleted(model_id)
    if target is None:
        return model_id
    if target["shared_with"]:
        logger.info(
            "Kept forecast entity %s: models %s publish to it too",
            target["entity_id"],
            ", ".join(target["shared_with"]),
        )
        return model_id
    try:
        delete_forecast_entity_task(
            target["entity_id"], target["entity_type"], target["service"], target["service_path"]
        )
    except ExternalServiceError as error:
        raise ExternalServiceError(
            f"model {model_id} was deleted, but deleting its forecast entity "
            f"{target['entity_id']} (service {target['service']}, path "
            f"{target['service_path']}) from Orion failed: {error}; delete that entity in "
            "Orion by hand"
        ) from error
    return model_id
