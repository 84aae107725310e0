"""Recurring forecasts in the core: enabling, disabling and the claim-and-run sweep (threads, no
orchestrator), against the sandbox and the embedded database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from forecast_test_data import INTERVAL, TENANT, sine

from chronos_core.clock import utc_now
from chronos_core.domain.enums import TrainingStatus
from chronos_core.domain.forecast import ForecastTrigger, PublicationStatus
from chronos_core.domain.training_job import TrainingJob
from chronos_core.errors import Conflict, InvalidInput, NotFound
from chronos_core.forecasting.errors import ArtifactsMissing
from chronos_core.forecasting.model_cache import ModelCache
from chronos_core.forecasting.recurring import disable_forecasts, enable_forecasts
from chronos_core.forecasting.scheduling import (
    DueJob,
    RunOutcome,
    claim,
    find_due_jobs,
    run_due_batch,
    run_sweep,
)
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from fiware_sandbox import Fault
from tests.database_commands import counted_client

pytestmark = pytest.mark.slow


def due_now(db: Any, job_id: str, *, ago: timedelta = timedelta(seconds=1)) -> None:
    TrainingJobRepository(db).set_fields(job_id, {"next_prediction_at": utc_now() - ago})


def scheduled(db: Any, settings: Settings, sandbox: Any, completed_job: Any, n: int = 1) -> list:
    jobs = []
    for i in range(n):
        _model, job = completed_job(f"Room{i}")
        sandbox.sth.seed(TENANT, "Room", f"Room{i}", "temperature", sine(20))
        enable_forecasts(db, job.id, 60, settings=settings)
        jobs.append(job)
    return jobs


# ---------------------------------------------------------------------------- enable / disable


def test_enable_fills_the_schedule(db: Any, fsettings: Settings, completed_job: Any) -> None:
    _model, job = completed_job()
    before = utc_now()
    state = enable_forecasts(db, job.id, settings=fsettings)
    assert state["enabled"] and state["interval_seconds"] == INTERVAL
    assert state["forecast_entity_id"] == "urn:ngsi-ld:Forecast:Room:Room1:temperature"
    assert state["forecast_entity_type"] == "Forecast"
    assert state["replaced_jobs"] == []
    stored = TrainingJobRepository(db).get(job.id)
    config = stored.prediction_config
    assert config.enabled and config.interval_seconds == INTERVAL
    assert config.created_at is not None and config.updated_at is not None
    assert stored.next_prediction_at is not None
    assert before - timedelta(seconds=1) <= stored.next_prediction_at <= utc_now()


def test_default_interval_is_raised_to_the_minimum(
    db: Any, completed_job: Any, fsettings: Settings
) -> None:
    _, job = completed_job()
    TrainingJobRepository(db).set_fields(job.id, {"sampling_interval_seconds": 5})
    assert enable_forecasts(db, job.id, settings=fsettings)["interval_seconds"] == 60


@pytest.mark.parametrize(
    ("interval", "error", "message"),
    [
        (10, InvalidInput, "interval_seconds must be between 60"),
        (366 * 86_400 + 1, InvalidInput, "interval_seconds must be between 60"),
        (True, InvalidInput, "whole number of seconds"),
        ("60", InvalidInput, "whole number of seconds"),
    ],
)
def test_bad_interval_writes_nothing(
    db: Any, completed_job: Any, fsettings: Settings, interval: Any, error: Any, message: str
) -> None:
    _, job = completed_job()
    with pytest.raises(error, match=message):
        enable_forecasts(db, job.id, interval, settings=fsettings)
    assert not TrainingJobRepository(db).get(job.id).prediction_config.enabled


def test_only_completed_jobs_with_their_artifacts_can_be_enabled(
    db: Any, completed_job: Any, fsettings: Settings
) -> None:
    model, job = completed_job()
    failed = TrainingJob(model_id=model.id, status=TrainingStatus.FAILED, error="boom")
    TrainingJobRepository(db).insert(failed)
    with pytest.raises(Conflict, match="is failed; only a completed training job"):
        enable_forecasts(db, failed.id, settings=fsettings)
    with pytest.raises(NotFound, match=r"training job .* not found"):
        enable_forecasts(db, "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d", settings=fsettings)
    with pytest.raises(InvalidInput, match="is not a valid id"):
        enable_forecasts(db, "job-1", settings=fsettings)
    ArtifactStore(db).delete(job.model_artifact_id or "")
    with pytest.raises(ArtifactsMissing, match="model artifact"):
        enable_forecasts(db, job.id, settings=fsettings)
    assert not TrainingJobRepository(db).get(job.id).prediction_config.enabled


def test_enabling_another_job_moves_the_schedule(
    db: Any, completed_job: Any, fsettings: Settings
) -> None:
    _model, old = completed_job()
    jobs = TrainingJobRepository(db)
    new = old.model_copy(update={"id": "6f0c1d4e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"})
    jobs.insert(new)
    enable_forecasts(db, old.id, settings=fsettings)
    state = enable_forecasts(db, new.id, settings=fsettings)
    assert state["replaced_jobs"] == [old.id]
    previous = jobs.get(old.id)
    assert not previous.prediction_config.enabled
    assert previous.prediction_config.disabled_reason == f"replaced by training job {new.id}"
    assert previous.next_prediction_at is None
    assert jobs.get(new.id).prediction_config.enabled


def test_disable_and_enable_again(db: Any, completed_job: Any, fsettings: Settings) -> None:
    _, job = completed_job()
    enable_forecasts(db, job.id, 120, settings=fsettings)
    jobs = TrainingJobRepository(db)
    jobs.set_fields(
        job.id,
        {"prediction_config.consecutive_failures": 4, "prediction_config.last_error": "x"},
    )
    state = disable_forecasts(db, job.id)
    assert state["was_enabled"] and not state["enabled"]
    assert state["disabled_reason"] == "disabled on request"
    assert state["next_prediction_at"] is None
    assert disable_forecasts(db, job.id)["was_enabled"] is False  # harmless twice
    state = enable_forecasts(db, job.id, settings=fsettings)
    assert state["enabled"] and state["disabled_reason"] is None
    assert state["consecutive_failures"] == 0 and state["last_error"] is None
    assert state["next_prediction_at"] is not None


# ---------------------------------------------------------------------------- the sweep


def test_sweep_runs_due_jobs_once_per_slot(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    (job,) = scheduled(db, fsettings, sandbox, completed_job)
    slot = TrainingJobRepository(db).get(job.id).next_prediction_at
    assert slot is not None
    report = run_sweep(db, settings=fsettings, cache=cache)
    assert report.outcomes["succeeded"] == 1 and report.model_loads == 1
    (forecast,) = ForecastRepository(db).list_for_model(job.model_id)
    assert forecast.trigger is ForecastTrigger.SCHEDULE
    assert forecast.scheduled_for == slot
    assert forecast.publication.status is PublicationStatus.PUBLISHED
    assert forecast.publication.attempts == 1 and forecast.publication.error is None
    assert forecast.publication.published_at is not None
    assert forecast.publication.published_at >= forecast.issued_at
    after = TrainingJobRepository(db).get(job.id)
    assert after.next_prediction_at == slot + timedelta(seconds=60)
    config = after.prediction_config
    assert config.last_run_at is not None and config.last_run_at <= forecast.issued_at
    assert config.last_success_at == config.last_run_at  # the run's start, written by the claim
    assert config.consecutive_failures == 0

    # Nothing is due any more: a second sweep does nothing.
    assert run_sweep(db, settings=fsettings, cache=cache).due == 0
    # Due again: the model comes from the cache.
    due_now(db, job.id)
    again = run_sweep(db, settings=fsettings, cache=cache)
    assert again.outcomes["succeeded"] == 1 and again.model_loads == 0 and again.cache_hits == 1


def test_concurrent_sweeps_produce_one_forecast_per_job_and_slot(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, race: Any
) -> None:
    jobs = scheduled(db, fsettings, sandbox, completed_job, n=4)
    slots = {job.id: TrainingJobRepository(db).get(job.id).next_prediction_at for job in jobs}
    reports = race(3, lambda i: run_sweep(db, settings=fsettings, cache=ModelCache(8)))
    assert all(not isinstance(report, Exception) for report in reports), reports
    assert sum(r.outcomes["succeeded"] for r in reports) == 4
    repo = ForecastRepository(db)
    assert repo.count() == 4
    for job in jobs:
        slot = slots[job.id]
        assert slot is not None and repo.count_for_slot(job.id, slot) == 1


def test_a_long_pause_is_coalesced_into_one_run(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    (job,) = scheduled(db, fsettings, sandbox, completed_job)
    due_now(db, job.id, ago=timedelta(seconds=60 * 10 + 30))  # 10 slots missed
    slot = TrainingJobRepository(db).get(job.id).next_prediction_at
    assert slot is not None
    report = run_sweep(db, settings=fsettings, cache=cache)
    assert report.outcomes["succeeded"] == 1
    assert ForecastRepository(db).count() == 1
    next_at = TrainingJobRepository(db).get(job.id).next_prediction_at
    assert next_at is not None
    assert next_at == slot + timedelta(seconds=60 * 11)
    assert utc_now() < next_at
    assert run_sweep(db, settings=fsettings, cache=cache).due == 0


def test_orion_down_records_the_error_backs_off_and_recovers(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    (job,) = scheduled(db, fsettings, sandbox, completed_job)
    jobs = TrainingJobRepository(db)
    sandbox.orion.inject_faults(Fault.server_error(503), repeat=500)

    first = run_sweep(db, settings=fsettings, cache=cache)
    (run,) = first.runs
    assert run.outcome is RunOutcome.PUBLICATION_FAILED
    stored = ForecastRepository(db).get(run.forecast_id or "")
    assert stored.publication.status is PublicationStatus.FAILED
    assert stored.publication.attempts == 1 + fsettings.forecast_publication_retries
    assert "Orion" in (stored.publication.error or "")
    state = jobs.get(job.id)
    assert state.prediction_config.consecutive_failures == 1
    assert "was computed but not published" in (state.prediction_config.last_error or "")
    assert state.prediction_config.enabled
    slot_after_one = state.next_prediction_at
    assert slot_after_one is not None and slot_after_one - utc_now() <= timedelta(seconds=60)

    # Second failure in a row: the next run is pushed back (2 intervals).
    due_now(db, job.id)
    run_sweep(db, settings=fsettings, cache=cache)
    state = jobs.get(job.id)
    assert state.prediction_config.consecutive_failures == 2
    assert state.next_prediction_at is not None
    assert state.next_prediction_at - utc_now() > timedelta(seconds=100)

    sandbox.orion.clear_faults()
    due_now(db, job.id)
    recovered = run_sweep(db, settings=fsettings, cache=cache)
    assert recovered.outcomes["succeeded"] == 1
    state = jobs.get(job.id)
    assert state.prediction_config.consecutive_failures == 0
    assert state.prediction_config.last_error is None
    assert ForecastRepository(db).count() == 3  # every computed forecast was kept


def test_deleted_artifacts_disable_the_schedule_with_a_reason(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    (job,) = scheduled(db, fsettings, sandbox, completed_job)
    ArtifactStore(db).delete_for_job(job.id)
    report = run_sweep(db, settings=fsettings, cache=cache)
    assert report.outcomes["disabled"] == 1
    state = TrainingJobRepository(db).get(job.id)
    assert not state.prediction_config.enabled
    assert state.next_prediction_at is None
    reason = state.prediction_config.disabled_reason or ""
    assert reason.startswith("recurring forecasts disabled: the stored model of training job")
    assert ForecastRepository(db).count() == 0
    assert run_sweep(db, settings=fsettings, cache=cache).due == 0


def test_missing_data_fails_without_disabling(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    (job,) = scheduled(db, fsettings, sandbox, completed_job)
    sandbox.sth.clear()
    (run,) = run_sweep(db, settings=fsettings, cache=cache).runs
    assert run.outcome is RunOutcome.FAILED
    assert "STH-Comet has no data" in (run.error or "")
    state = TrainingJobRepository(db).get(job.id)
    assert state.prediction_config.enabled and state.prediction_config.consecutive_failures == 1


def test_a_scheduler_that_dies_after_its_claim_leaves_nothing_stuck(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    (job,) = scheduled(db, fsettings, sandbox, completed_job)
    jobs = TrainingJobRepository(db)
    slot = jobs.get(job.id).next_prediction_at
    assert slot is not None
    won = claim(db, DueJob(job.id, slot, 60))  # ... and the scheduler dies here
    assert won is not None
    assert claim(db, DueJob(job.id, slot, 60)) is None  # the slot is taken
    assert run_sweep(db, settings=fsettings, cache=cache).due == 0
    # Once the next slot is due, the next sweep runs the job as usual.
    report = run_sweep(db, settings=fsettings, cache=cache, now=lambda: won.next_at)
    assert report.outcomes["succeeded"] == 1
    assert ForecastRepository(db).count_for_slot(job.id, won.next_at) == 1


def test_sweep_limit(db: Any, fsettings: Settings, sandbox: Any, completed_job: Any) -> None:
    scheduled(db, fsettings, sandbox, completed_job, n=3)
    assert run_sweep(db, settings=fsettings, cache=ModelCache(4), limit=2).due == 2
    assert run_sweep(db, settings=fsettings, cache=ModelCache(4), limit=5).due == 1
    with pytest.raises(InvalidInput, match="limit"):
        run_sweep(db, settings=fsettings, cache=ModelCache(4), limit=0)


def test_an_orion_outage_is_not_hammered_once_per_job(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    scheduled(db, fsettings, sandbox, completed_job, n=3)
    sandbox.orion.inject_faults(Fault.server_error(503), repeat=500)
    before = sandbox.orion.pending_faults()
    one_worker = fsettings.model_copy(update={"forecast_concurrency": 1})
    report = run_sweep(db, settings=one_worker, cache=cache)
    assert report.outcomes["publication_failed"] == 3
    # 3 jobs in 1 batch: it stops publishing at its first failure, then the pending
    # publications get 2 retries that also stop at the first failure; every attempt is one
    # request retried by the HTTP client.
    per_attempt = fsettings.http_retries + 1
    assert before - sandbox.orion.pending_faults() == (1 + 2) * per_attempt
    for job_run in report.runs:
        stored = ForecastRepository(db).get(job_run.forecast_id or "")
        assert stored.publication.status is PublicationStatus.FAILED
        assert stored.publication.error


def test_a_warm_sweep_costs_two_database_round_trips_per_job(
    db: Any, mongodb_uri: str, fsettings: Settings, sandbox: Any, completed_job: Any
) -> None:
    scheduled(db, fsettings, sandbox, completed_job, n=4)
    cache = ModelCache(8)
    assert run_sweep(db, settings=fsettings, cache=cache).outcomes["succeeded"] == 4
    for job in TrainingJobRepository(db).find_due_predictions(utc_now() + timedelta(hours=1)):
        due_now(db, job.job_id)
    with counted_client(mongodb_uri) as (client, counter):
        report = run_sweep(client[db.name], settings=fsettings, cache=cache)
    assert report.outcomes["succeeded"] == 4 and report.model_loads == 0
    # Per job: the claim (a plain update; the batch read the jobs in one query) and the forecast
    # insert. Per batch and IN_CHUNK successes: the publications in one write, the jobs'
    # outcomes in another. Per batch: the jobs, the cached models' artifacts (one query per
    # IN_CHUNK). Per sweep: the due jobs (one page, then an empty one). No findAndModify: the
    # embedded server scans the collection for each.
    assert counter.names.count("findAndModify") == 0
    assert counter.names.count("insert") == 4
    assert counter.names.count("update") == 4 + 2  # the claims, then the outcomes (4 < IN_CHUNK)
    assert len(counter.names) <= 2 * 4 + 4 + 2, counter.names


def test_a_job_disabled_after_its_batch_read_it_is_not_forecast(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    first, second = scheduled(db, fsettings, sandbox, completed_job, n=2)
    due = sorted(find_due_jobs(db, utc_now() + timedelta(minutes=2)), key=lambda d: d.job_id)
    assert {d.job_id for d in due} == {first.id, second.id}
    asked: list[int] = []

    def disable_the_other_one() -> bool:
        # Asked before each claim, after the batch read its jobs: disable the next job now.
        asked.append(1)
        if len(asked) == 1:
            disable_forecasts(db, due[1].job_id)
        return False

    runs, pending = run_due_batch(
        db, due, settings=fsettings, cache=cache, should_stop=disable_the_other_one
    )
    assert not pending
    outcomes = {run.job_id: run.outcome for run in runs}
    assert outcomes == {due[0].job_id: RunOutcome.SUCCEEDED, due[1].job_id: RunOutcome.SKIPPED}
    forecasts = ForecastRepository(db)
    assert forecasts.count_for_slot(due[1].job_id, due[1].due_at) == 0
    assert not TrainingJobRepository(db).get(due[1].job_id).prediction_config.enabled


def test_a_cached_model_whose_artifacts_were_deleted_is_disabled_by_the_next_sweep(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    (job,) = scheduled(db, fsettings, sandbox, completed_job)
    assert run_sweep(db, settings=fsettings, cache=cache).outcomes["succeeded"] == 1
    ArtifactStore(db).delete_for_job(job.id)
    due_now(db, job.id)
    # The sweep does not ask GridFS before each cached job: this run still forecasts, and the
    # batch's one check afterwards drops the model from the cache.
    assert run_sweep(db, settings=fsettings, cache=cache).outcomes["succeeded"] == 1
    assert len(cache) == 0
    due_now(db, job.id)
    assert run_sweep(db, settings=fsettings, cache=cache).outcomes["disabled"] == 1
    assert not TrainingJobRepository(db).get(job.id).prediction_config.enabled
