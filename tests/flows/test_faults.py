"""Faults end to end, each in bounded time: STH-Comet down when the collection is planned, a
``chronos train`` process killed outright and recovered through its lease, the embedded database
killed mid-run, and a subscription create whose answer is lost.

Every wait is on a condition with a generous bound; leases are shortened through settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import WriteConcern
from typer.testing import CliRunner

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ModelStatus, TrainingStatus
from chronos_core.fiware.tenant import Tenant
from chronos_core.forecasting.publication import forget_history_subscriptions
from chronos_core.services.models import register_model
from chronos_core.services.training_jobs import reconcile_dead_jobs
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from fiware_sandbox import Fault
from tests.waiting import BOUND_SECONDS, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

TENANT = Tenant("smart", "/")
TINY = {
    "model_type": "lstm",
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": "Room1",
    "epochs": 2,
    "batch_size": 16,
    "rnn_layers": [{"units": 4, "dropout": 0.0}],
    "dense_layers": [],
    "lookback_window": 8,
    "forecast_horizon": 3,
}
#: A lost database must end ``chronos train`` within this many seconds (it took 53 s before).
DB_LOSS_EXIT_SECONDS = 45.0


@pytest.fixture
def model_id(db: Any, settings: Any, sandbox: Any, sine_series: Any) -> str:
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine_series(300))
    return register_model(db, TINY, settings).id


@pytest.fixture
def fast_task_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """STH-Comet's failures are retried by the HTTP client (its 3 retries, the owner of request
    retries), without the seconds of backoff between them."""
    monkeypatch.setenv("CHRONOS_HTTP_RETRIES", "3")
    monkeypatch.setenv("CHRONOS_HTTP_BACKOFF_SECONDS", "0")
    get_settings.cache_clear()


@pytest.fixture
def chronos(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from cli.main import app

    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        get_settings.cache_clear()
        return runner.invoke(app, list(args), catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()


# ------------------------------------------------------------ STH-Comet down at planning


def test_sth_down_when_planning_ends_the_job_naming_sth_and_exits_5(
    db: Any, model_id: str, sandbox: Any, chronos: Any, fast_task_retries: None
) -> None:
    sandbox.sth.inject_faults(Fault.server_error(503), repeat=20, path_contains="temperature")
    result = chronos("train", model_id, "--last-n", "250")
    assert result.exit_code == 5, result.stderr
    error_line = result.stderr.strip().splitlines()[-1]
    assert error_line.startswith("Error: STH-Comet")
    assert "503" in error_line
    assert "cannot go from" not in result.stderr
    (job,) = TrainingJobRepository(db).list_for_model(model_id)
    assert job.status is TrainingStatus.FAILED
    assert (job.error or "").startswith("STH-Comet")
    assert "503" in (job.error or "")
    assert (job.error_details or {}).get("service") == "STH-Comet"
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT
    # 1 + 3 HTTP attempts, and no task retry on top of them (one retry owner per failure).
    assert sandbox.sth.pending_faults() == 20 - 4


def test_a_planning_attempt_that_failed_is_retried_to_completion(
    db: Any, model_id: str, sandbox: Any, fast_task_retries: None
) -> None:
    from flows.training import train_model

    sandbox.sth.inject_faults(Fault.server_error(503), path_contains="temperature")
    job_id = train_model(model_id, last_n=250)
    job = TrainingJobRepository(db).get(job_id)
    assert job.status is TrainingStatus.COMPLETED
    assert sandbox.sth.pending_faults() == 0


# ------------------------------------------------------------ processes killed outright


def _chronos_process(
    args: list[str], env_changes: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    from prefect.settings import PREFECT_API_URL

    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
            "CHRONOS_TF_THREADS": "1",
            **env_changes,
        }
    )
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _slow_collection(sandbox: Any) -> None:
    """STH-Comet answers the count at once and each page after a second: the run stays
    ``collecting_data`` long enough to be killed there."""
    sandbox.sth.inject_faults(Fault.delay(0), path_contains="temperature")
    sandbox.sth.inject_faults(Fault.delay(1.0), repeat=200, path_contains="temperature")


SLOW_RUN = {
    "CHRONOS_STH_MAX_PAGE_SIZE": "10",
    "CHRONOS_COLLECTION_PAGES_PER_CHUNK": "1",
    "CHRONOS_COLLECTION_CONCURRENCY": "2",
    "CHRONOS_TRAINING_LEASE_SECONDS": "1",
    "CHRONOS_TRAINING_LEASE_GRACE_SECONDS": "1",
}


def test_kill_9_of_chronos_train_is_recovered_through_its_lease(
    db: Any,
    settings: Settings,
    model_id: str,
    sandbox: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.maintenance import chronos_maintenance

    grace = 1.0
    monkeypatch.setenv("CHRONOS_TRAINING_LEASE_GRACE_SECONDS", str(grace))
    get_settings.cache_clear()

    _slow_collection(sandbox)
    jobs = TrainingJobRepository(db)
    process = _chronos_process(
        ["train", model_id, "--last-n", "250"], SLOW_RUN, tmp_path / "train.log"
    )
    try:
        job = wait_for(
            lambda: next(
                (
                    j
                    for j in jobs.list_for_model(model_id)
                    if j.status is TrainingStatus.COLLECTING_DATA
                ),
                None,
            ),
            "the run to collect",
        )
        first_lease = job.lease_expires_at
        assert job.owner_pid == process.pid and first_lease is not None
        # The run renews its lease while it works.
        wait_for(lambda: jobs.get(job.id).lease_expires_at > first_lease, "a lease renewal")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert jobs.get(job.id).status is TrainingStatus.COLLECTING_DATA
    killed_at = time.monotonic()

    # Prefect still shows the run running; the hourly maintenance ends the job anyway.
    ended = wait_for(
        lambda: (
            (utc_now() - jobs.get(job.id).lease_expires_at).total_seconds() > grace
            and chronos_maintenance(
                reconcile_jobs=True, remove_orphan_artifacts=False, expire_forecasts=False
            )["dead_training_jobs"]
        ),
        "the maintenance to end the job",
    )
    assert ended == [job.id]
    recovered_in = time.monotonic() - killed_at
    lost = jobs.get(job.id)
    assert lost.status is TrainingStatus.FAILED
    assert f"process {process.pid}" in (lost.error or "")
    assert not any(c.status.value in ("pending", "in_progress") for c in lost.data_collection_jobs)
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT
    assert recovered_in < BOUND_SECONDS


def test_the_embedded_database_killed_mid_run(
    sandbox: Any, settings: Settings, sine_series: Any, tmp_path: Path
) -> None:
    """``chronos train`` fails within seconds in one line, exit 5; once the database is back,
    the job's lease ends it."""
    from chronos_core.storage.database import bootstrap, client_for
    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    data_dir = Path(tempfile.mkdtemp(prefix="chronos-fault-db-"))
    server = ensure_embedded_server(data_dir, port=0, exit_with_parent=os.getpid())
    name = f"chronos_test_{uuid.uuid4().hex[:12]}"
    try:
        db = client_for(server.uri)[name]
        bootstrap(db)
        sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine_series(300))
        model_id = register_model(db, TINY, settings).id
        _slow_collection(sandbox)
        jobs = TrainingJobRepository(db)
        log = tmp_path / "train.log"
        process = _chronos_process(
            ["train", model_id, "--last-n", "250"],
            {**SLOW_RUN, "CHRONOS_MONGODB_URI": server.uri, "CHRONOS_MONGODB_DATABASE": name},
            log,
        )
        try:
            job = wait_for(
                lambda: next(
                    (
                        j
                        for j in jobs.list_for_model(model_id)
                        if j.status is TrainingStatus.COLLECTING_DATA
                    ),
                    None,
                ),
                "the run to collect",
            )
            # The embedded server syncs its log about once a second; a journaled write makes
            # what the run wrote so far durable before the server is killed.
            db.get_collection("sync", write_concern=WriteConcern(j=True)).insert_one({})
            os.kill(server.pid, signal.SIGKILL)
            killed = time.monotonic()
            rc = process.wait(timeout=BOUND_SECONDS)
            took = time.monotonic() - killed
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
        output = log.read_text("utf-8", "replace")
        assert rc == 5, output
        assert took < DB_LOSS_EXIT_SECONDS, f"exited {took:.1f} s after the kill: {output}"
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, output
        assert f"the database {name} at 127.0.0.1:{server.port} is unreachable" in errors[0]
        assert " since " in errors[0] and len(errors[0]) < 300
        assert "Traceback" not in output

        # The database comes back (same files, same port); the expired lease ends the job.
        ensure_embedded_server(data_dir, port=server.port, exit_with_parent=os.getpid())
        ended = wait_for(
            lambda: reconcile_dead_jobs(db, lambda _run: True, lease_grace_seconds=1.0),
            "the lease to expire",
        )
        assert ended == [job.id]
        assert jobs.get(job.id).status is TrainingStatus.FAILED
        assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT
    finally:
        stop_embedded_server(data_dir)


# ------------------------------------------------------------ subscription answer lost


def test_a_subscription_create_whose_answer_is_dropped_makes_one_subscription(
    db: Any, model_id: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.forecast import forecast
    from flows.training import train_model

    monkeypatch.setenv("CHRONOS_FORECAST_PUBLICATION_RETRY_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    forget_history_subscriptions()
    train_model(model_id, last_n=250)
    # Orion creates the subscription, then the connection drops before its answer.
    sandbox.orion.inject_faults(
        Fault.apply_then_drop(), method="POST", path_contains="/v2/subscriptions"
    )
    result = forecast(model_id)
    assert result["publication"]["status"] == "published"
    assert sandbox.orion.pending_faults() == 0
    assert len(sandbox.orion.subscription_ids("smart")) == 1
    forget_history_subscriptions()
