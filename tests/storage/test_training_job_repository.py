"""TrainingJobRepository against a real MongoDB-wire server, including concurrent writers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import DataCollectionStatus, TrainingStatus
from chronos_core.domain.identifiers import new_id
from chronos_core.domain.training_job import (
    DataCollectionJob,
    PredictionConfig,
    TrainingJob,
    TrainingMetrics,
)
from chronos_core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from chronos_core.storage.documents import IN_CHUNK
from chronos_core.storage.training_job_repository import TrainingJobRepository

Db = Database[dict[str, Any]]
Race = Callable[[int, Callable[[int], Any]], list[Any]]
T = TrainingStatus


def chunks(n: int = 2) -> list[DataCollectionJob]:
    return [DataCollectionJob(index=i, h_offset=i * 100, h_limit=100) for i in range(n)]


def full_job(model_id: str) -> TrainingJob:
    now = utc_now()
    return TrainingJob(
        model_id=model_id,
        status=T.COMPLETED,
        last_n=250,
        data_collection_jobs=[
            DataCollectionJob(
                index=0,
                h_offset=0,
                h_limit=200,
                pages=2,
                status=DataCollectionStatus.COMPLETED,
                data_points_collected=198,
                dropped_values=2,
                start_time=now,
                end_time=now,
            ),
            DataCollectionJob(
                index=1, h_offset=200, h_limit=50, status=DataCollectionStatus.FAILED, error="x"
            ),
        ],
        total_data_points_requested=250,
        total_data_points_collected=198,
        metrics=TrainingMetrics(
            mae=0.5,
            mse=0.3,
            rmse=0.55,
            r2=0.9,
            best_epoch=3,
            baselines={"naive": {"mae": 0.7}},
            per_step_mae=[0.4, None],
            loss_history={"loss": [1.0, 0.5]},
            custom_metric=1.5,
        ),
        model_artifact_id="a" * 24,
        x_scaler_artifact_id="b" * 24,
        y_scaler_artifact_id="c" * 24,
        metadata_artifact_id="d" * 24,
        sampling_interval_seconds=1800,
        next_prediction_at=now + timedelta(minutes=30),
        prediction_config=PredictionConfig(
            enabled=True,
            interval_seconds=1800,
            entity_id="urn:ngsi-ld:Forecast:1",
            entity_type="Forecast",
            metadata={"device_id": "dev1"},
            created_at=now,
            updated_at=now,
            last_run_at=now,
            consecutive_failures=1,
        ),
        previous_model_status="draft",
        error=None,
        error_details={"note": "kept"},
        flow_run_id="run-1",
        start_time=now,
        end_time=now,
        data_collection_start=now,
        data_collection_end=now,
        preprocessing_start=now,
        preprocessing_end=now,
        training_start=now,
        training_end=now,
    )


def test_round_trip_of_every_field(db: Db) -> None:
    repository = TrainingJobRepository(db)
    job = full_job(new_id())
    repository.insert(job)
    assert repository.get(job.id) == job

    raw = db["training_jobs"].find_one({"id": job.id})
    assert raw is not None
    assert set(raw) == set(TrainingJob.model_fields) | {"_id"}
    assert type(raw["status"]) is str and raw["status"] == "completed"
    for name in (
        "created_at",
        "updated_at",
        "start_time",
        "end_time",
        "data_collection_start",
        "data_collection_end",
        "preprocessing_start",
        "preprocessing_end",
        "training_start",
        "training_end",
        "next_prediction_at",
    ):
        assert isinstance(raw[name], datetime), name
        assert raw[name].utcoffset() == timedelta(0), name
    chunk = raw["data_collection_jobs"][0]
    assert chunk["status"] == "completed" and isinstance(chunk["start_time"], datetime)
    assert isinstance(chunk["data_points_collected"], int)
    assert isinstance(raw["total_data_points_collected"], int)
    assert isinstance(raw["prediction_config"]["last_run_at"], datetime)
    assert raw["prediction_config"]["enabled"] is True
    assert raw["metrics"]["custom_metric"] == 1.5
    assert raw["metrics"]["per_step_mae"] == [0.4, None]


def test_get_missing(db: Db) -> None:
    with pytest.raises(NotFound, match="training job nope not found"):
        TrainingJobRepository(db).get("nope")


def test_one_active_job_per_model(db: Db) -> None:
    repository = TrainingJobRepository(db)
    model_id = new_id()
    first = repository.insert(TrainingJob(model_id=model_id))
    with pytest.raises(Conflict, match=f"already has an active training job {first.id}") as caught:
        repository.insert(TrainingJob(model_id=model_id))
    assert caught.value.details == {"active_job_id": first.id}
    repository.insert(TrainingJob(model_id=new_id()))  # other models are unaffected
    repository.transition(first.id, T.CANCEL_REQUESTED)
    with pytest.raises(Conflict):  # cancel_requested is still active
        repository.insert(TrainingJob(model_id=model_id))
    repository.transition(first.id, T.CANCELLED)
    second = repository.insert(TrainingJob(model_id=model_id))
    assert repository.active_for_model(model_id) == second
    repository.insert(TrainingJob(model_id=model_id, status=T.FAILED))  # finished jobs: any number


def test_concurrent_inserts_for_one_model_have_one_winner(db: Db, race: Race) -> None:
    repository = TrainingJobRepository(db)
    for _ in range(5):
        model_id = new_id()
        results = race(8, lambda _i, m=model_id: repository.insert(TrainingJob(model_id=m)))
        winners = [r for r in results if isinstance(r, TrainingJob)]
        assert len(winners) == 1
        assert all(isinstance(r, Conflict) for r in results if r not in winners)
        assert len(repository.find_active(model_id)) == 1


def test_transition(db: Db) -> None:
    repository = TrainingJobRepository(db)
    job = repository.insert(TrainingJob(model_id=new_id()))
    now = utc_now()
    moved = repository.transition(job.id, T.COLLECTING_DATA, data_collection_start=now)
    assert moved.status is T.COLLECTING_DATA and moved.data_collection_start == now
    with pytest.raises(IllegalTransition, match="from collecting_data to completed"):
        repository.transition(job.id, T.COMPLETED)
    with pytest.raises(Conflict, match="is collecting_data, not pending"):
        repository.transition(job.id, T.FAILED, T.PENDING)
    with pytest.raises(IllegalTransition):  # expected statuses checked before any write
        repository.transition(job.id, T.COMPLETED, T.COLLECTING_DATA)
    with pytest.raises(InvalidInput, match="invalid value for last_n"):
        repository.transition(job.id, T.PREPROCESSING, last_n=0)
    with pytest.raises(InvalidInput, match="cannot be set directly"):
        repository.transition(job.id, T.PREPROCESSING, model_id="other")
    with pytest.raises(NotFound):
        repository.transition("missing", T.FAILED)
    assert repository.get(job.id).status is T.COLLECTING_DATA


def test_every_allowed_transition_is_applied(db: Db) -> None:
    repository = TrainingJobRepository(db)
    path = [T.COLLECTING_DATA, T.PREPROCESSING, T.TRAINING, T.COMPLETED]
    job = repository.insert(TrainingJob(model_id=new_id()))
    for target in path:
        assert repository.transition(job.id, target).status is target
    for start in (T.PENDING, T.COLLECTING_DATA, T.PREPROCESSING, T.TRAINING, T.CANCEL_REQUESTED):
        for target in (T.FAILED, T.CANCELLED):
            other = repository.insert(TrainingJob(model_id=new_id(), status=start))
            assert repository.transition(other.id, target).status is target


TARGETS = [T.COMPLETED, T.FAILED, T.CANCELLED, T.CANCEL_REQUESTED] * 2


def test_racing_transitions_have_one_winner(db: Db, race: Race) -> None:
    repository = TrainingJobRepository(db)
    for _ in range(5):
        job = repository.insert(TrainingJob(model_id=new_id(), status=T.TRAINING))
        results = race(
            len(TARGETS), lambda i, j=job.id: repository.transition(j, TARGETS[i], T.TRAINING)
        )
        winners = [r for r in results if isinstance(r, TrainingJob)]
        assert len(winners) == 1, results
        assert repository.get(job.id).status is winners[0].status
        assert all(isinstance(r, Conflict) for r in results if r is not winners[0])
        if winners[0].status is T.CANCEL_REQUESTED:  # and from there, on to cancelled
            assert repository.transition(job.id, T.CANCELLED).status is T.CANCELLED


def test_closing_unfinished_chunks_with_the_status(db: Db) -> None:
    repository = TrainingJobRepository(db)
    plan = chunks(3)
    plan[0] = plan[0].model_copy(update={"status": DataCollectionStatus.COMPLETED})
    plan[1] = plan[1].model_copy(update={"status": DataCollectionStatus.IN_PROGRESS})
    job = repository.insert(
        TrainingJob(model_id=new_id(), status=T.COLLECTING_DATA, data_collection_jobs=plan)
    )
    ended = repository.transition(
        job.id, T.CANCELLED, close_chunks=DataCollectionStatus.CANCELLED, chunk_error="stop"
    )
    statuses = [c.status for c in ended.data_collection_jobs]
    assert statuses == [
        DataCollectionStatus.COMPLETED,
        DataCollectionStatus.CANCELLED,
        DataCollectionStatus.CANCELLED,
    ]
    assert [c.error for c in ended.data_collection_jobs] == [None, "stop", "stop"]
    assert ended.data_collection_jobs[0].end_time is None
    assert ended.data_collection_jobs[1].end_time is not None


def test_chunk_updates(db: Db) -> None:
    repository = TrainingJobRepository(db)
    job = repository.insert(TrainingJob(model_id=new_id(), status=T.COLLECTING_DATA))
    plan = chunks(2)
    job = repository.set_collection_plan(job.id, plan, total_requested=200)
    assert job.total_data_points_requested == 200 and len(job.data_collection_jobs) == 2
    chunk_id = plan[1].id
    now = utc_now()
    job = repository.update_chunk(
        job.id, chunk_id, status=DataCollectionStatus.IN_PROGRESS, start_time=now
    )
    assert job.data_collection_jobs[1].status is DataCollectionStatus.IN_PROGRESS
    assert job.data_collection_jobs[1].start_time == now
    assert job.data_collection_jobs[0].status is DataCollectionStatus.PENDING
    raw = db["training_jobs"].find_one({"id": job.id})
    assert raw is not None and isinstance(raw["data_collection_jobs"][1]["start_time"], datetime)
    with pytest.raises(Conflict, match="is in_progress"):
        repository.update_chunk(
            job.id,
            chunk_id,
            expected_status=DataCollectionStatus.PENDING,
            status=DataCollectionStatus.IN_PROGRESS,
        )
    repository.update_chunk(
        job.id,
        chunk_id,
        expected_status=[DataCollectionStatus.IN_PROGRESS],
        status=DataCollectionStatus.COMPLETED,
    )
    with pytest.raises(NotFound, match="has no collection chunk"):
        repository.update_chunk(job.id, "nope", status=DataCollectionStatus.FAILED)
    with pytest.raises(InvalidInput, match="invalid value for status"):
        repository.update_chunk(job.id, chunk_id, status="done")
    with pytest.raises(InvalidInput, match="cannot be set directly"):
        repository.update_chunk(job.id, chunk_id, id="other")
    repository.transition(job.id, T.FAILED)
    with pytest.raises(Conflict, match="can no longer change"):
        repository.update_chunk(job.id, plan[0].id, status=DataCollectionStatus.COMPLETED)
    with pytest.raises(Conflict):
        repository.set_collection_plan(job.id, plan, total_requested=200)


def test_collected_points_add_up_under_concurrency(db: Db, race: Race) -> None:
    repository = TrainingJobRepository(db)
    plan = chunks(2)
    job = repository.insert(
        TrainingJob(model_id=new_id(), status=T.COLLECTING_DATA, data_collection_jobs=plan)
    )

    def add(i: int) -> None:
        for _ in range(10):
            repository.add_collected_points(job.id, plan[i % 2].id, 3, dropped=1)

    assert race(8, add) == [None] * 8
    stored = repository.get(job.id)
    assert stored.total_data_points_collected == 8 * 10 * 3
    assert [c.data_points_collected for c in stored.data_collection_jobs] == [120, 120]
    assert [c.dropped_values for c in stored.data_collection_jobs] == [40, 40]
    with pytest.raises(InvalidInput, match="points must be an integer >= 0"):
        repository.add_collected_points(job.id, plan[0].id, -1)


def test_set_fields_with_dotted_paths(db: Db) -> None:
    repository = TrainingJobRepository(db)
    job = repository.insert(TrainingJob(model_id=new_id(), status=T.COMPLETED))
    when = utc_now()
    updated = repository.set_fields(
        job.id,
        {
            "prediction_config.enabled": True,
            "prediction_config.interval_seconds": 600,
            "prediction_config.metadata.device_id": "d1",
            "next_prediction_at": when,
            "metrics": {"mae": 1.0},
        },
    )
    assert updated.prediction_config.enabled is True
    assert updated.prediction_config.metadata == {"device_id": "d1"}
    assert updated.next_prediction_at == when
    assert updated.metrics is not None and updated.metrics.mae == 1.0
    with pytest.raises(
        InvalidInput, match=r"invalid value for prediction_config\.interval_seconds"
    ):
        repository.set_fields(job.id, {"prediction_config.interval_seconds": 0})
    with pytest.raises(InvalidInput, match="has no field"):
        repository.set_fields(job.id, {"prediction_config.bogus": 1})
    with pytest.raises(InvalidInput, match="invalid field name"):
        repository.set_fields(job.id, {"$where": 1})
    with pytest.raises(Conflict, match="is completed; it cannot be changed now"):
        repository.set_fields(job.id, {"flow_run_id": "x"}, expected=T.TRAINING)


def test_due_predictions_and_claims(db: Db, race: Race) -> None:
    repository = TrainingJobRepository(db)
    now = utc_now()

    def job_with(
        enabled: bool, next_at: datetime | None, status: T = T.COMPLETED, interval: int | None = 60
    ) -> TrainingJob:
        return repository.insert(
            TrainingJob(
                model_id=new_id(),
                status=status,
                next_prediction_at=next_at,
                sampling_interval_seconds=interval,
                prediction_config=PredictionConfig(enabled=enabled),
            )
        )

    due_early = job_with(True, now - timedelta(minutes=5))
    due_now = job_with(True, now)
    job_with(True, now + timedelta(minutes=5))  # not yet
    job_with(False, now - timedelta(minutes=5))  # disabled
    job_with(True, None)  # never scheduled
    job_with(True, now - timedelta(minutes=9), status=T.FAILED)  # not a completed job
    job_with(True, now - timedelta(minutes=7), interval=None)  # no slots: no interval at all
    due = repository.find_due_predictions(now)
    assert [j.job_id for j in due] == [due_early.id, due_now.id]
    assert {j.interval_seconds for j in due} == {60}
    assert [j.job_id for j in repository.find_due_predictions(now, limit=1)] == [due_early.id]

    expected = due_early.next_prediction_at
    new_next = now + timedelta(minutes=30)
    results = race(6, lambda _i: repository.claim_prediction(due_early.id, expected, new_next))
    assert sorted(results) == [False] * 5 + [True]
    assert repository.get(due_early.id).next_prediction_at == new_next
    assert repository.claim_prediction(due_early.id, expected, new_next) is False
    assert [j.job_id for j in repository.find_due_predictions(now)] == [due_now.id]


def test_listing_and_deleting(db: Db) -> None:
    repository = TrainingJobRepository(db)
    model_id = new_id()
    earlier = utc_now() - timedelta(minutes=2)
    done = repository.insert(TrainingJob(model_id=model_id, status=T.COMPLETED, created_at=earlier))
    failed = repository.insert(
        TrainingJob(model_id=model_id, status=T.FAILED, created_at=earlier + timedelta(minutes=1))
    )
    active = repository.insert(TrainingJob(model_id=model_id, status=T.TRAINING))
    repository.insert(TrainingJob(model_id=new_id(), status=T.PENDING))
    assert {j.id for j in repository.list_for_model(model_id)} == {done.id, failed.id, active.id}
    assert [j.id for j in repository.list_for_model(model_id, status=T.FAILED)] == [failed.id]
    assert len(repository.list_for_model(model_id)) == 3
    assert len(repository.list_for_model(model_id, limit=2)) == 2
    assert {j.id for j in repository.list_by_status([T.TRAINING, T.PENDING])} >= {active.id}
    oldest = repository.list_by_status([T.COMPLETED, T.FAILED])
    newest = repository.list_by_status([T.COMPLETED, T.FAILED], newest_first=True)
    assert [j.id for j in oldest] == [j.id for j in reversed(newest)]
    assert [j.id for j in oldest] == [done.id, failed.id]
    assert {j.id for j in repository.find_active()} >= {active.id}
    assert repository.delete_for_model(model_id) == 3
    assert repository.list_for_model(model_id) == []


def test_find_many_reads_every_job_across_in_chunks(db: Db) -> None:
    repository = TrainingJobRepository(db)
    jobs = [repository.insert(full_job(new_id())) for _ in range(2 * IN_CHUNK + 3)]
    wanted = [job.id for job in jobs] + [new_id()]  # one that does not exist
    found = repository.find_many(wanted, without=("metrics",))
    assert set(found) == {job.id for job in jobs}
    assert all(job.metrics is None for job in found.values())
    assert found[jobs[-1].id].data_collection_jobs == jobs[-1].data_collection_jobs
    assert repository.find_many([]) == {}


def test_the_stored_status_follows_the_state_machine_exactly(db: Db) -> None:
    from chronos_core.domain.transitions import TRAINING_TRANSITIONS

    repository = TrainingJobRepository(db)
    for current in T:
        for target in T:
            job = repository.insert(TrainingJob(model_id=new_id(), status=current))
            if target in TRAINING_TRANSITIONS[current]:
                assert repository.transition(job.id, target).status is target
                assert db["training_jobs"].find_one({"id": job.id})["status"] == target.value  # type: ignore[index]
            else:
                with pytest.raises(IllegalTransition):
                    repository.transition(job.id, target, current)
                with pytest.raises(IllegalTransition):
                    repository.transition(job.id, target)  # default: every allowed source
                assert repository.get(job.id).status is current
