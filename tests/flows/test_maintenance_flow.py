"""chronos-maintenance through Prefect: dead runs are reconciled by asking the Prefect API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from prefect import flow, get_client
from prefect.states import Running
from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.forecast import ForecastRecord
from chronos_core.domain.model import ModelDefinition
from chronos_core.services.models import register_model
from chronos_core.services.training_jobs import start_training_job
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.schema import ARTIFACT_FILES, MODELS, TRAINING_JOBS
from chronos_core.storage.training_job_repository import TrainingJobRepository
from flows.maintenance import chronos_maintenance as maintenance
from tasks.maintenance import flow_run_states

pytestmark = pytest.mark.prefect


@flow(name="finished-quickly")
def finished_quickly() -> None:
    """A flow run that completed: a job still pointing at it has lost its run."""


def _model(db: Database[dict[str, Any]], settings: Settings, entity_id: str) -> str:
    definition = ModelDefinition.model_validate(
        {"model_type": "gru", "entity_type": "Room", "entity_id": entity_id, "feature": "t"}
    )
    return register_model(db, definition, settings).id


def _running_flow_run_id() -> str:
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(finished_quickly, state=Running())
    return str(run.id)


def test_reconcile_and_remove_orphans(settings: Settings, db: Database[dict[str, Any]]) -> None:
    completed_run = str(finished_quickly(return_state=True).state_details.flow_run_id)
    running_run = _running_flow_run_id()
    unknown_run = str(uuid4())

    jobs = {}
    for name, run_id in (
        ("completed", completed_run),
        ("running", running_run),
        ("unknown", unknown_run),
    ):
        job = start_training_job(db, _model(db, settings, f"Room_{name}"), 100, settings=settings)
        TrainingJobRepository(db).set_fields(job.id, {"flow_run_id": run_id})
        jobs[name] = job.id
    # A job asked to stop whose run is gone ends cancelled rather than failed.
    db[TRAINING_JOBS].update_one({"id": jobs["unknown"]}, {"$set": {"status": "cancel_requested"}})

    # An artifact of a model that no longer exists, uploaded an hour ago.
    store = ArtifactStore(db)
    orphan = store.upload(
        b"x",
        "model.keras",
        model_id=str(uuid4()),
        training_job_id=str(uuid4()),
        artifact_type="model",
        content_type="application/zip",
    )
    db[ARTIFACT_FILES].update_one(
        {"metadata.model_id": {"$exists": True}},
        {"$set": {"uploadDate": utc_now() - timedelta(hours=1)}},
    )

    # Two stored forecasts: one past its retention, one not.
    forecasts = ForecastRepository(db)
    for name, expires_at in (
        ("old", utc_now() - timedelta(minutes=1)),
        ("new", utc_now() + timedelta(days=1)),
    ):
        forecasts.insert(
            ForecastRecord(
                id=str(uuid4()),
                model_id=str(uuid4()),
                training_job_id=str(uuid4()),
                trigger="schedule",
                service="smart",
                service_path="/",
                entity_type="Room",
                entity_id=f"Room_{name}",
                feature="t",
                lookback_window=4,
                forecast_horizon=1,
                sampling_interval_seconds=900,
                last_observed_at=utc_now(),
                expires_at=expires_at,
            )
        )

    states = flow_run_states([completed_run, running_run, unknown_run])
    assert [state.value if state else None for state in states.values()] == [
        "COMPLETED",
        "RUNNING",
        None,
    ]

    summary = maintenance(grace_minutes=0)

    assert sorted(summary["dead_training_jobs"]) == sorted([jobs["completed"], jobs["unknown"]])
    status = {doc["id"]: doc["status"] for doc in db[TRAINING_JOBS].find()}
    assert status[jobs["completed"]] == "failed"
    assert status[jobs["unknown"]] == "cancelled"
    assert status[jobs["running"]] == "pending"
    models = {doc["entity_id"]: doc["status"] for doc in db[MODELS].find()}
    assert models["Room_completed"] == "draft" and models["Room_running"] == "training"

    assert summary["orphan_artifacts_removed"] == 1
    assert not store.exists(orphan)
    assert summary["forecasts_expired"] == 1
    assert [doc["entity_id"] for doc in db["forecasts"].find()] == ["Room_new"]


def test_grace_period_protects_fresh_jobs(settings: Settings, db: Database[dict[str, Any]]) -> None:
    job = start_training_job(db, _model(db, settings, "Room_fresh"), 100, settings=settings)
    summary = maintenance(remove_orphan_artifacts=False, expire_forecasts=False)
    assert summary["dead_training_jobs"] == []
    assert summary["orphan_artifacts_removed"] is None
    assert db[TRAINING_JOBS].find_one({"id": job.id})["status"] == "pending"  # type: ignore[index]
