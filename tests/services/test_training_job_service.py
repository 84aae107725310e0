"""The training-job lifecycle: models and jobs stay consistent, and no file is left behind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import AutoReconnect

from chronos_core.clock import utc_now
from chronos_core.domain.enums import (
    ArtifactType,
    DataCollectionStatus,
    ModelStatus,
    TrainingStatus,
)
from chronos_core.domain.identifiers import new_id
from chronos_core.domain.model import Model
from chronos_core.domain.training_job import DataCollectionJob, TrainingJob, TrainingMetrics
from chronos_core.errors import Cancelled, Conflict, InvalidInput, NotFound
from chronos_core.services import training_jobs as service
from chronos_core.services.models import register_model
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository

Db = Database[dict[str, Any]]
Race = Callable[[int, Callable[[int], Any]], list[Any]]
T = TrainingStatus
S = DataCollectionStatus


@pytest.fixture
def model(db: Db, settings: Settings, model_definition: dict[str, Any]) -> Model:
    return register_model(db, model_definition, settings)


def upload_all(db: Db, model_id: str, job_id: str) -> dict[ArtifactType, str]:
    store = ArtifactStore(db)
    return {
        kind: store.upload(
            b"artifact " + kind.value.encode(),
            f"{kind.value}.bin",
            model_id=model_id,
            training_job_id=job_id,
            artifact_type=kind,
            content_type="application/octet-stream",
        )
        for kind in ArtifactType
    }


def advance(db: Db, job_id: str, *targets: TrainingStatus) -> TrainingJob:
    jobs = TrainingJobRepository(db)
    job = jobs.get(job_id)
    for target in targets:
        job = jobs.transition(job_id, target)
    return job


def train_successfully(db: Db, model_id: str, settings: Settings) -> TrainingJob:
    job = service.start_training_job(db, model_id, 100, settings=settings)
    advance(db, job.id, T.COLLECTING_DATA, T.PREPROCESSING, T.TRAINING)
    return service.finish_job_completed(
        db,
        job.id,
        metrics=TrainingMetrics(mae=0.1),
        artifact_ids=upload_all(db, model_id, job.id),
        sampling_interval_seconds=60,
    )


def model_status(db: Db, model_id: str) -> ModelStatus:
    return ModelRepository(db).get(model_id).status


class TestStart:
    def test_creates_a_pending_job_and_moves_the_model(
        self, db: Db, settings: Settings, model: Model
    ) -> None:
        job = service.start_training_job(db, model.id, 500, flow_run_id="run-1", settings=settings)
        assert job.status is T.PENDING and job.last_n == 500 and job.flow_run_id == "run-1"
        assert job.previous_model_status == "draft" and job.start_time is not None
        assert TrainingJobRepository(db).get(job.id) == job
        assert model_status(db, model.id) is ModelStatus.TRAINING

    def test_an_unset_last_n_is_left_for_the_collection_plan_to_choose(
        self, db: Db, settings: Settings, model: Model
    ) -> None:
        job = service.start_training_job(db, model.id, None, settings=settings)
        assert job.last_n is None and not job.last_n_chosen

    @pytest.mark.parametrize("last_n", [0, -1, 1_000_001, True, "100", 10.5])
    def test_bad_last_n_writes_nothing(
        self, db: Db, settings: Settings, model: Model, last_n: Any
    ) -> None:
        with pytest.raises(InvalidInput, match="last_n"):
            service.start_training_job(db, model.id, last_n, settings=settings)
        assert db["training_jobs"].count_documents({}) == 0
        assert model_status(db, model.id) is ModelStatus.DRAFT

    def test_last_n_limit_comes_from_settings(
        self, db: Db, settings: Settings, model: Model
    ) -> None:
        small = settings.model_copy(update={"max_last_n": 50})
        with pytest.raises(InvalidInput, match="between 1 and 50"):
            service.start_training_job(db, model.id, 51, settings=small)

    def test_missing_model(self, db: Db, settings: Settings) -> None:
        with pytest.raises(NotFound):
            service.start_training_job(db, new_id(), 10, settings=settings)
        with pytest.raises(InvalidInput):
            service.start_training_job(db, "not-a-uuid", 10, settings=settings)

    def test_one_active_job(self, db: Db, settings: Settings, model: Model) -> None:
        first = service.start_training_job(db, model.id, 10, settings=settings)
        with pytest.raises(Conflict, match=f"active training job {first.id}"):
            service.start_training_job(db, model.id, 10, settings=settings)
        assert len(TrainingJobRepository(db).list_for_model(model.id)) == 1

    def test_concurrent_starts_create_one_job(
        self, db: Db, settings: Settings, model: Model, race: Race
    ) -> None:
        results = race(
            6, lambda _i: service.start_training_job(db, model.id, 10, settings=settings)
        )
        started = [r for r in results if isinstance(r, TrainingJob)]
        assert len(started) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not started[0])
        assert len(TrainingJobRepository(db).list_for_model(model.id)) == 1
        assert model_status(db, model.id) is ModelStatus.TRAINING

    def test_model_is_rolled_back_when_the_insert_fails(
        self, db: Db, settings: Settings, model: Model, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A connection lost mid-operation cannot be produced on demand against a local server,
        # so the job insert is made to fail the way pymongo would report it.
        def lost_connection(self: TrainingJobRepository, job: TrainingJob) -> TrainingJob:
            raise AutoReconnect("connection closed")

        monkeypatch.setattr(TrainingJobRepository, "insert", lost_connection)
        with pytest.raises(AutoReconnect):
            service.start_training_job(db, model.id, 10, settings=settings)
        assert model_status(db, model.id) is ModelStatus.DRAFT
        assert db["training_jobs"].count_documents({}) == 0

    def test_retraining_a_trained_model(self, db: Db, settings: Settings, model: Model) -> None:
        train_successfully(db, model.id, settings)
        job = service.start_training_job(db, model.id, 10, settings=settings)
        assert job.previous_model_status == "trained"
        service.finish_job_failed(db, job.id, "boom")
        assert model_status(db, model.id) is ModelStatus.TRAINED


class TestFinish:
    def test_completed(self, db: Db, settings: Settings, model: Model) -> None:
        job = train_successfully(db, model.id, settings)
        assert job.status is T.COMPLETED and job.end_time is not None
        assert job.metrics is not None and job.metrics.mae == 0.1
        assert len(job.artifact_ids) == 4 and job.sampling_interval_seconds == 60
        stored = ModelRepository(db).get(model.id)
        assert stored.status is ModelStatus.TRAINED and stored.has_successful_training
        assert ArtifactStore(db).find_orphans() == []

    def test_completion_after_a_cancel_request_ends_cancelled(
        self, db: Db, settings: Settings, model: Model
    ) -> None:
        job = service.start_training_job(db, model.id, 10, settings=settings)
        advance(db, job.id, T.COLLECTING_DATA, T.PREPROCESSING, T.TRAINING)
        artifacts = upload_all(db, model.id, job.id)
        service.request_cancel(db, job.id)
        with pytest.raises(Cancelled):
            service.finish_job_completed(db, job.id, metrics={}, artifact_ids=artifacts)
        assert TrainingJobRepository(db).get(job.id).status is T.CANCELLED
        assert ArtifactStore(db).list_for_job(job.id) == []  # no orphan files
        assert model_status(db, model.id) is ModelStatus.DRAFT

    def test_completion_of_a_job_declared_dead_removes_its_files(
        self, db: Db, settings: Settings, model: Model
    ) -> None:
        job = service.start_training_job(db, model.id, 10, settings=settings)
        advance(db, job.id, T.COLLECTING_DATA, T.PREPROCESSING, T.TRAINING)
        service.finish_job_failed(db, job.id, "declared dead")
        artifacts = upload_all(db, model.id, job.id)
        with pytest.raises(Conflict, match="from failed to completed"):
            service.finish_job_completed(db, job.id, metrics={}, artifact_ids=artifacts)
        assert ArtifactStore(db).list_for_job(job.id) == []
        assert model_status(db, model.id) is ModelStatus.DRAFT

    def test_failed_closes_chunks_and_phases_and_restores_the_model(
        self, db: Db, settings: Settings, model: Model
    ) -> None:
        jobs = TrainingJobRepository(db)
        job = service.start_training_job(db, model.id, 300, settings=settings)
        started = utc_now()
        jobs.transition(job.id, T.COLLECTING_DATA, data_collection_start=started)
        plan = [DataCollectionJob(index=i, h_offset=i * 100, h_limit=100) for i in range(3)]
        jobs.set_collection_plan(job.id, plan, 300)
        jobs.update_chunk(job.id, plan[0].id, status=S.COMPLETED, data_points_collected=100)
        jobs.update_chunk(job.id, plan[1].id, status=S.IN_PROGRESS)
        upload_all(db, model.id, job.id)  # e.g. a partial upload before the failure

        failed = service.finish_job_failed(db, job.id, "STH-Comet unreachable", {"status": 503})
        assert failed.status is T.FAILED
        assert failed.error == "STH-Comet unreachable"
        assert failed.error_details == {"status": 503}
        assert failed.end_time is not None
        assert failed.data_collection_end is not None
        assert failed.preprocessing_end is None  # never started, so not closed
        assert [c.status for c in failed.data_collection_jobs] == [S.COMPLETED, S.FAILED, S.FAILED]
        assert failed.data_collection_jobs[1].error == "STH-Comet unreachable"
        assert ArtifactStore(db).list_for_job(job.id) == []
        assert model_status(db, model.id) is ModelStatus.DRAFT

        again = service.finish_job_failed(db, job.id, "second report")
        assert again == failed  # a finished job is left as it is

    def test_failure_requires_a_message(self, db: Db, settings: Settings, model: Model) -> None:
        job = service.start_training_job(db, model.id, 10, settings=settings)
        with pytest.raises(InvalidInput, match="error message"):
            service.finish_job_failed(db, job.id, " ")
        assert TrainingJobRepository(db).get(job.id).status is T.PENDING

    def test_cancelled(self, db: Db, settings: Settings, model: Model) -> None:
        train_successfully(db, model.id, settings)
        job = service.start_training_job(db, model.id, 10, settings=settings)
        advance(db, job.id, T.COLLECTING_DATA)
        service.request_cancel(db, job.id)
        cancelled = service.finish_job_cancelled(db, job.id)
        assert cancelled.status is T.CANCELLED and cancelled.error == service.CANCELLED_BY_USER
        assert cancelled.data_collection_end is not None or cancelled.data_collection_start is None
        assert model_status(db, model.id) is ModelStatus.TRAINED


class TestCancel:
    def test_request_cancel(self, db: Db, settings: Settings, model: Model) -> None:
        job = service.start_training_job(db, model.id, 10, settings=settings)
        jobs = TrainingJobRepository(db)
        assert jobs.get(job.id).status is T.PENDING
        assert service.request_cancel(db, job.id).status is T.CANCEL_REQUESTED
        assert service.request_cancel(db, job.id).status is T.CANCEL_REQUESTED  # idempotent
        assert jobs.get(job.id).status is T.CANCEL_REQUESTED
        service.finish_job_cancelled(db, job.id)
        assert jobs.get(job.id).status is T.CANCELLED
        with pytest.raises(
            Conflict, match="already ended \\(cancelled\\); there is nothing to cancel"
        ):
            service.request_cancel(db, job.id)

    def test_cancel_a_completed_job(self, db: Db, settings: Settings, model: Model) -> None:
        job = train_successfully(db, model.id, settings)
        with pytest.raises(Conflict, match="already ended \\(completed\\)"):
            service.request_cancel(db, job.id)
        with pytest.raises(NotFound):
            service.request_cancel(db, new_id())


class TestReconcile:
    def test_dead_runs_are_ended(
        self, db: Db, settings: Settings, model_definition: dict[str, Any]
    ) -> None:
        models = [register_model(db, model_definition, settings) for _ in range(3)]
        alive = service.start_training_job(db, models[0].id, 10, "run-alive", settings)
        dead = service.start_training_job(db, models[1].id, 10, "run-dead", settings)
        advance(db, dead.id, T.COLLECTING_DATA)
        TrainingJobRepository(db).transition(
            dead.id, T.PREPROCESSING, preprocessing_start=utc_now()
        )
        upload_all(db, models[1].id, dead.id)
        stopping = service.start_training_job(db, models[2].id, 10, None, settings)
        service.request_cancel(db, stopping.id)
        later = utc_now() + timedelta(minutes=5)

        asked: list[str | None] = []

        def is_run_alive(run_id: str | None) -> bool:
            asked.append(run_id)
            return run_id == "run-alive"

        assert service.reconcile_dead_jobs(db, is_run_alive, now=utc_now(), grace_seconds=60) == []
        assert asked == []  # every job is within the grace period
        ended = service.reconcile_dead_jobs(db, is_run_alive, now=later)
        assert set(ended) == {dead.id, stopping.id}
        jobs = TrainingJobRepository(db)
        assert jobs.get(alive.id).status is T.PENDING
        lost = jobs.get(dead.id)
        assert lost.status is T.FAILED
        assert "flow run run-dead is no longer running" in (lost.error or "")
        assert lost.preprocessing_end == later
        assert jobs.get(stopping.id).status is T.CANCELLED
        assert ArtifactStore(db).list_for_job(dead.id) == []
        assert [model_status(db, m.id) for m in models] == [
            ModelStatus.TRAINING,
            ModelStatus.DRAFT,
            ModelStatus.DRAFT,
        ]
        assert service.reconcile_dead_jobs(db, is_run_alive, now=later) == []
