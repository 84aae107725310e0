"""Training-job leases: a job whose process stopped renewing its lease is dead whatever the
orchestrator says; a phase the job already entered can be entered again (retried steps)."""

from __future__ import annotations

import os
import socket
import threading
from datetime import timedelta
from typing import Any

from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ArtifactType, ModelStatus
from chronos_core.domain.enums import TrainingStatus as T
from chronos_core.services import training_jobs as service
from chronos_core.services.models import register_model
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from chronos_core.training.lease import LeaseKeeper, lease_expired
from chronos_core.training.phases import enter_phase

Db = Database[dict[str, Any]]


def _model(db: Db, settings: Settings, definition: dict[str, Any]) -> str:
    return register_model(db, definition, settings).id


def test_entering_the_current_phase_again_is_a_retry_not_a_conflict(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    job = service.start_training_job(db, _model(db, settings, model_definition), 10, None, settings)
    first = enter_phase(db, job.id, T.COLLECTING_DATA, T.PENDING, data_collection_start=utc_now())
    again = enter_phase(db, job.id, T.COLLECTING_DATA, T.PENDING, data_collection_start=utc_now())
    assert again.status is T.COLLECTING_DATA
    assert again.data_collection_start == first.data_collection_start  # the first attempt's


def test_a_started_job_records_its_owner_and_lease(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    before = utc_now()
    job = service.start_training_job(
        db, _model(db, settings, model_definition), 10, "run-1", settings, with_lease=True
    )
    assert job.owner_host == socket.gethostname()
    assert job.owner_pid == os.getpid()
    assert job.lease_expires_at is not None
    expected = before + timedelta(seconds=settings.training_lease_seconds)
    assert (
        expected - timedelta(seconds=1) <= job.lease_expires_at <= expected + timedelta(seconds=5)
    )


def test_an_expired_lease_ends_the_job_whatever_the_orchestrator_says(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    model_id = _model(db, settings, model_definition)
    job = service.start_training_job(db, model_id, 10, "run-1", settings, with_lease=True)
    TrainingJobRepository(db).transition(job.id, T.COLLECTING_DATA, data_collection_start=utc_now())
    ArtifactStore(db).upload(
        b"partial",
        "model.keras",
        model_id=model_id,
        training_job_id=job.id,
        artifact_type=ArtifactType.MODEL,
        content_type="application/octet-stream",
    )
    assert len(ArtifactStore(db).list_for_job(job.id)) == 1
    assert job.lease_expires_at is not None
    grace = 30.0

    def prefect_says_running(run_id: str | None) -> bool:
        return True

    # Still within the lease (and within its grace): alive.
    within = job.lease_expires_at + timedelta(seconds=grace - 1)
    assert (
        service.reconcile_dead_jobs(db, prefect_says_running, now=within, lease_grace_seconds=grace)
        == []
    )
    # Past the lease and its grace: dead, although Prefect still shows the run running.
    later = job.lease_expires_at + timedelta(seconds=grace + 1)
    ended = service.reconcile_dead_jobs(
        db, prefect_says_running, now=later, lease_grace_seconds=grace
    )
    assert ended == [job.id]
    lost = TrainingJobRepository(db).get(job.id)
    assert lost.status is T.FAILED
    assert "stopped renewing the job's lease" in (lost.error or "")
    assert (lost.error_details or {})["reason"] == "lease_expired"
    assert lost.data_collection_end == later
    assert ArtifactStore(db).list_for_job(job.id) == []
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT


def test_a_current_lease_keeps_a_job_whose_run_the_orchestrator_lost(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    job = service.start_training_job(
        db, _model(db, settings, model_definition), 10, "run-1", settings, with_lease=True
    )
    assert job.lease_expires_at is not None
    now = job.lease_expires_at - timedelta(seconds=1)
    assert service.reconcile_dead_jobs(db, lambda _run: False, now=now) == []


def test_training_again_ends_a_job_whose_lease_expired(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    model_id = _model(db, settings, model_definition)
    stale = service.start_training_job(db, model_id, 10, "run-1", settings, with_lease=True)
    TrainingJobRepository(db).set_fields(
        stale.id, {"lease_expires_at": utc_now() - timedelta(hours=1)}
    )
    fresh = service.start_training_job(db, model_id, 10, "run-2", settings, with_lease=True)
    assert TrainingJobRepository(db).get(stale.id).status is T.FAILED
    assert TrainingJobRepository(db).get(fresh.id).status is T.PENDING


def test_the_keeper_renews_until_stopped_and_stops_when_the_job_ends(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    job = service.start_training_job(
        db, _model(db, settings, model_definition), 10, None, settings, with_lease=True
    )
    jobs = TrainingJobRepository(db)
    keeper = LeaseKeeper(db, job.id, 0.6).start()
    try:
        renewed = threading.Event()
        deadline = utc_now() + timedelta(seconds=60)
        while keeper.renewals < 2 and utc_now() < deadline:
            renewed.wait(0.05)
        assert keeper.renewals >= 2
        assert jobs.get(job.id).updated_at == job.updated_at  # a lease is not progress
        service.finish_job_failed(db, job.id, "ended")
        deadline = utc_now() + timedelta(seconds=60)
        while keeper._thread.is_alive() and utc_now() < deadline:
            renewed.wait(0.05)
        assert not keeper._thread.is_alive()
    finally:
        keeper.stop()


def test_lease_expired_needs_a_lease_and_counts_the_grace(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    job = service.start_training_job(db, _model(db, settings, model_definition), 10, None, settings)
    assert job.lease_expires_at is None
    assert not lease_expired(job, utc_now() + timedelta(days=1), 0.0)
    expires = utc_now()
    leased = job.model_copy(update={"lease_expires_at": expires})
    assert not lease_expired(leased, expires + timedelta(seconds=5), 10.0)
    assert lease_expired(leased, expires + timedelta(seconds=11), 10.0)


def test_a_model_left_training_without_any_job_is_restored(
    db: Db, settings: Settings, model_definition: dict[str, Any]
) -> None:
    """A database killed outright can lose the job it was creating but keep its model's move."""
    model_id = _model(db, settings, model_definition)
    models = ModelRepository(db)
    models.transition(model_id, ModelStatus.DRAFT, ModelStatus.TRAINING)
    changed = models.get(model_id).updated_at
    assert service.reconcile_dead_jobs(db, lambda _run: True, now=changed) == []
    assert models.get(model_id).status is ModelStatus.TRAINING  # too recent: a job may follow
    later = changed + timedelta(seconds=settings.training_lease_grace_seconds + 61)
    service.reconcile_dead_jobs(db, lambda _run: True, now=later)
    assert models.get(model_id).status is ModelStatus.DRAFT
