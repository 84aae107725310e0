"""Forecast workers in the production path: ``python -m deployments.serve`` (what ``chronos
serve`` runs) against a real Prefect API server, its ``run-due-forecasts`` runs executed by the
served runner in their own processes, the batches in the long-lived forecast worker.

The model cache must survive from one served sweep to the next, two workers must forecast each
slot once, and stopping the serving process must leave no claimed job behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from test_forecast_flows import Trained, add_scheduled_copies, job, make_due, trained

from chronos_core.forecasting.scheduling import NOT_CLAIMED_STOPPING
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from flows.predictions import run_due_forecasts
from tasks.forecasting import subscribed_forecast_workers
from tests.waiting import BOUND_SECONDS, wait_for

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
__all__ = ["job", "trained"]  # fixtures

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 240.0


def api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness sets an API URL"
    return str(url)


def child_env() -> dict[str, str]:
    env = {**os.environ, "PREFECT_API_URL": api_url(), "PYTHONPATH": str(ROOT)}
    env["CHRONOS_FORECAST_EXECUTOR"] = "workers"
    return env


def deployment_registered(name: str) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return True


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def start(processes: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=child_env())
    processes.append(process)
    return process


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=BOUND_SECONDS)


def sweep_table(flow_run_id: Any) -> tuple[list[dict[str, Any]], str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    assert len(artifacts) == 1, artifacts
    data = artifacts[0].data
    rows = cast(list[dict[str, Any]], json.loads(data) if isinstance(data, str) else data)
    return rows, artifacts[0].description or ""


def test_served_sweeps_keep_the_models_loaded_and_stop_cleanly(
    db: Any, sandbox: Any, job: Trained, processes: list[subprocess.Popen[bytes]]
) -> None:
    from prefect.deployments import run_deployment

    job_ids = add_scheduled_copies(db, job, 2)
    serving = start(processes, "deployments.serve")
    wait_for(lambda: subscribed_forecast_workers() == 1, "the forecast worker", STARTUP_SECONDS)
    sweep = "run-due-forecasts/every-minute"
    wait_for(lambda: deployment_registered(sweep), "the served deployments", STARTUP_SECONDS)
    tables = []
    for _ in range(2):
        for job_id in job_ids:
            make_due(db, job_id)
        flow_run: Any = run_deployment(sweep, timeout=STARTUP_SECONDS, as_subflow=False)
        assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
        tables.append(sweep_table(flow_run.id))
    (first, first_note), (second, second_note) = tables
    assert [row["outcome"] for row in first + second] == ["succeeded"] * 6
    # The three jobs share one trained model: loaded once by the first served sweep, still
    # loaded (in the forecast worker) for the second one, which ran in another process.
    assert sum(row["model_loaded"] for row in first) == 1
    assert sum(row["model_loaded"] for row in second) == 0
    assert "(workers)" in first_note and "(workers)" in second_note
    assert ForecastRepository(db).count() == 6

    for job_id in job_ids:
        make_due(db, job_id)
    assert stop(serving) == 0
    wait_for(lambda: subscribed_forecast_workers() == 0, "the forecast worker to stop", 120)
    jobs = TrainingJobRepository(db)
    # Nothing ran after the stop: every job is still due, nothing claimed and left behind.
    assert all(jobs.get(job_id).prediction_config.enabled for job_id in job_ids)
    assert ForecastRepository(db).count() == 6


def test_two_forecast_workers_forecast_each_slot_once(
    db: Any, sandbox: Any, job: Trained, processes: list[subprocess.Popen[bytes]]
) -> None:
    job_ids = add_scheduled_copies(db, job, 5)
    jobs = TrainingJobRepository(db)
    slots = {job_id: jobs.get(job_id).next_prediction_at for job_id in job_ids}
    workers = [start(processes, "deployments.forecast_worker") for _ in range(2)]
    wait_for(lambda: subscribed_forecast_workers() == 2, "two forecast workers", STARTUP_SECONDS)
    report = run_due_forecasts()
    assert report["executor"] == "workers"
    assert report["due"] == 6 and report["succeeded"] == 6, report
    repo = ForecastRepository(db)
    assert repo.count() == 6
    for job_id, slot in slots.items():
        assert slot is not None and repo.count_for_slot(job_id, slot) == 1
    assert all(stop(worker) == 0 for worker in workers)
    assert NOT_CLAIMED_STOPPING not in json.dumps(report)
