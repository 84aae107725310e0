"""A stopping process claims nothing more: the rest of its batch stays due, nothing is claimed
and left without its run."""

from __future__ import annotations

from typing import Any

import pytest
from forecast_test_data import TENANT, sine

from chronos_core.forecasting.model_cache import ModelCache
from chronos_core.forecasting.recurring import enable_forecasts
from chronos_core.forecasting.scheduling import (
    NOT_CLAIMED_STOPPING,
    RunOutcome,
    cache_use,
    find_due_jobs,
    run_due_batch,
)
from chronos_core.settings import Settings
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository

pytestmark = pytest.mark.slow


def test_a_stop_request_leaves_the_unclaimed_jobs_due(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any
) -> None:
    job_ids = []
    for i in range(3):
        _model, job = completed_job(f"Room{i}")
        sandbox.sth.seed(TENANT, "Room", f"Room{i}", "temperature", sine(20))
        enable_forecasts(db, job.id, 60, settings=fsettings)
        job_ids.append(job.id)
    jobs = TrainingJobRepository(db)
    before = {job_id: jobs.get(job_id).next_prediction_at for job_id in job_ids}
    due = find_due_jobs(db)
    asked: list[bool] = []

    def stop_after_first() -> bool:
        asked.append(True)
        return len(asked) > 1

    runs, pending = run_due_batch(
        db, due, settings=fsettings, cache=ModelCache(4), should_stop=stop_after_first
    )
    assert not pending and len(runs) == 3
    assert runs[0].outcome is RunOutcome.SUCCEEDED
    assert [r.outcome for r in runs[1:]] == [RunOutcome.SKIPPED] * 2
    assert all(r.error == NOT_CLAIMED_STOPPING for r in runs[1:])
    assert cache_use(runs) == (1, 0)
    first, *rest = (d.job_id for d in due)
    assert jobs.get(first).next_prediction_at != before[first]
    # The others were never claimed: still due at the same slot, no forecast.
    assert all(jobs.get(job_id).next_prediction_at == before[job_id] for job_id in rest)
    assert {d.job_id for d in find_due_jobs(db)} == set(rest)
    assert ForecastRepository(db).count() == 1
