"""The forecasting flows end to end: a model trained once per module by the real ``train-model``
flow, the sandbox (its Orion notifying its STH-Comet), the embedded database and Prefect's test
harness. Each test gets its own copy of the trained model in a fresh database."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pymongo.database import Database
from typer.testing import CliRunner

from chronos_core.clock import utc_now
from chronos_core.domain.forecast import PublicationStatus
from chronos_core.errors import InvalidInput, NotFound
from chronos_core.fiware.ngsi import format_datetime, parse_datetime
from chronos_core.fiware.tenant import Tenant
from chronos_core.forecasting.publication import forget_history_subscriptions
from chronos_core.services.models import register_model
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.database import bootstrap, client_for
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.schema import ARTIFACT_CHUNKS, ARTIFACT_FILES, MODELS, TRAINING_JOBS
from chronos_core.storage.training_job_repository import TrainingJobRepository
from fiware_sandbox import Fault
from flows.forecast import forecast
from flows.predictions import disable_forecasts, enable_forecasts, run_due_forecasts

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

TENANT = Tenant("smart", "/")
ENTITY_ID = "urn:ngsi-ld:Forecast:Room:Room1:temperature"
INTERVAL = 900
TINY = {
    "model_type": "gru",
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": "Room1",
    "epochs": 1,
    "batch_size": 32,
    "rnn_layers": [{"units": 3, "dropout": 0.0}],
    "dense_layers": [],
    "lookback_window": 8,
    "forecast_horizon": 3,
    "publish_next_value": True,
}

BOUNDS = ("lower80", "upper80", "lower95", "upper95")


def sine_series(points: int) -> pd.Series:
    index = pd.date_range("2024-01-01", periods=points, freq="15min", tz="UTC")
    steps = np.arange(points)
    return pd.Series(np.round(20 + 3 * np.sin(2 * np.pi * steps / 96), 3), index=index)


@dataclass(frozen=True)
class Trained:
    database: str
    model_id: str
    job_id: str
    series: pd.Series


@pytest.fixture(scope="module")
def trained(mongodb_uri: str, fiware_sandbox: Any, tmp_path_factory: Any) -> Iterator[Trained]:
    """One model trained by the real flow for the whole module (in its own database)."""
    client = client_for(mongodb_uri)
    name = f"chronos_test_forecast_{uuid.uuid4().hex[:10]}"
    source = client[name]
    bootstrap(source)
    patch = pytest.MonkeyPatch()
    for key, value in {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": name,
        "DATA_DIR": str(tmp_path_factory.mktemp("chronos-train")),
        "HTTP_BACKOFF_SECONDS": "0.001",
        "STH_URL": fiware_sandbox.sth_url,
        "ORION_URL": fiware_sandbox.orion_url,
        "IOT_AGENT_URL": fiware_sandbox.iot_agent_url,
    }.items():
        patch.setenv(f"CHRONOS_{key}", value)
    get_settings.cache_clear()
    series = sine_series(240)
    try:
        fiware_sandbox.clear()
        fiware_sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", series)
        from flows.training import train_model

        model_id = register_model(source, TINY, get_settings()).id
        job_id = train_model(model_id, last_n=240)
    finally:
        patch.undo()
        get_settings.cache_clear()
    yield Trained(name, model_id, job_id, series)
    client.drop_database(name)


def copy_trained(trained: Trained, db: Database[dict[str, Any]]) -> None:
    source = db.client[trained.database]
    for collection in (MODELS, TRAINING_JOBS, ARTIFACT_FILES, ARTIFACT_CHUNKS):
        documents = list(source[collection].find({}))
        if documents:
            db[collection].insert_many(documents)


@pytest.fixture
def job(
    trained: Trained,
    db: Database[dict[str, Any]],
    settings: Settings,
    sandbox: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Trained:
    """The trained model in this test's database, its data in the (emptied) sandbox."""
    copy_trained(trained, db)
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", trained.series)
    forget_history_subscriptions()
    monkeypatch.setenv("CHRONOS_FORECAST_PUBLICATION_RETRY_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    return trained


def last_observed(trained: Trained) -> pd.Timestamp:
    return trained.series.index[-1]


def make_due(db: Any, job_id: str, *, ago: timedelta = timedelta(seconds=1)) -> None:
    TrainingJobRepository(db).set_fields(job_id, {"next_prediction_at": utc_now() - ago})


def orion_entity(sandbox: Any) -> dict[str, Any] | None:
    entity: dict[str, Any] | None = sandbox.orion.entity("smart", "/", ENTITY_ID, "Forecast")
    return entity


# ---------------------------------------------------------------------------- on demand


def test_forecast_lands_in_orion_with_the_exact_payload(
    db: Any, sandbox: Any, job: Trained
) -> None:
    result = forecast(job.model_id)

    assert result["model_id"] == job.model_id and result["training_job_id"] == job.job_id
    assert result["trigger"] == "on_demand"
    last = last_observed(job)
    assert result["last_observed_at"] == format_datetime(last.to_pydatetime())
    context = result["context_window"]
    assert [p["value"] for p in context] == pytest.approx(job.series.iloc[-8:].tolist())
    assert [p["timestamp"] for p in context] == [
        format_datetime(t.to_pydatetime()) for t in job.series.index[-8:]
    ]
    points = result["points"]
    assert [p["step"] for p in points] == [1, 2, 3]
    assert [p["target_timestamp"] for p in points] == [
        format_datetime((last + pd.Timedelta(seconds=INTERVAL * k)).to_pydatetime())
        for k in (1, 2, 3)
    ]
    assert all(np.isfinite(p["value"]) for p in points)
    # The trained job's split-conformal intervals come with every point.
    assert result["interval_levels"] == [80, 95]
    assert all(p["lower95"] <= p["lower80"] <= p["value"] <= p["upper80"] <= p["upper95"]
               for p in points)  # fmt: skip
    publication = result["publication"]
    assert publication["status"] == "published" and publication["entity_id"] == ENTITY_ID

    issued = result["issued_at"]
    assert orion_entity(sandbox) == {
        "id": ENTITY_ID,
        "type": "Forecast",
        "refEntity": {"type": "Relationship", "value": "Room1", "metadata": {}},
        "feature": {"type": "Text", "value": "temperature", "metadata": {}},
        "modelId": {"type": "Text", "value": job.model_id, "metadata": {}},
        "trainingJobId": {"type": "Text", "value": job.job_id, "metadata": {}},
        "generatedAt": {"type": "DateTime", "value": issued, "metadata": {}},
        "forecastSeries": {
            "type": "StructuredValue",
            "value": {
                "generatedAt": issued,
                "lastObservedAt": result["last_observed_at"],
                "horizon": 3,
                "samplingIntervalSeconds": INTERVAL,
                "points": [
                    {
                        "step": p["step"],
                        # Orion renders numbers with at most 9 decimals.
                        "value": pytest.approx(p["value"], abs=1e-9),
                        "targetTimestamp": p["target_timestamp"],
                        **{name: pytest.approx(p[name], abs=1e-9) for name in BOUNDS},
                    }
                    for p in points
                ],
                "intervalLevels": [80, 95],
                "intervalMethod": "split-conformal",
            },
            "metadata": {"TimeInstant": {"type": "DateTime", "value": issued}},
        },
        "temperature": {
            "type": "Number",
            "value": pytest.approx(points[0]["value"], abs=1e-9),
            "metadata": {
                "TimeInstant": {"type": "DateTime", "value": points[0]["target_timestamp"]}
            },
        },
        "dateIssued": {"type": "DateTime", "value": issued, "metadata": {}},
        "validFrom": {"type": "DateTime", "value": points[0]["target_timestamp"], "metadata": {}},
        "validTo": {"type": "DateTime", "value": points[-1]["target_timestamp"], "metadata": {}},
        "dataProvider": {"type": "Text", "value": "Chronos", "metadata": {}},
    }
    # Orion's subscription stored the forecast in STH-Comet at its TimeInstant (delivered
    # asynchronously by a real Orion: wait for it).
    assert sandbox.orion.wait_for_deliveries()
    history = sandbox.sth.points(TENANT, "Forecast", ENTITY_ID, "forecastSeries")
    assert [moment for moment, _ in history] == [parse_datetime(issued)]
    assert history[0][1]["points"][0]["targetTimestamp"] == points[0]["target_timestamp"]
    next_values = sandbox.sth.points(TENANT, "Forecast", ENTITY_ID, "temperature")
    assert [m for m, _ in next_values] == [parse_datetime(points[0]["target_timestamp"])]

    stored = ForecastRepository(db).get(result["forecast_id"])
    assert stored.publication.status is PublicationStatus.PUBLISHED


def test_forecast_without_publishing_and_refusals(db: Any, sandbox: Any, job: Trained) -> None:
    result = forecast(job.model_id, training_job_id=job.job_id, publish=False)
    assert result["publication"]["status"] == "skipped"
    assert orion_entity(sandbox) is None
    assert ForecastRepository(db).count() == 1

    with pytest.raises(NotFound, match=r"model .* not found"):
        forecast(str(uuid.uuid4()))
    with pytest.raises(Exception, match="model_id"):
        forecast("not-a-uuid")
    with pytest.raises(NotFound, match=r"training job .* not found"):
        forecast(job.model_id, training_job_id=str(uuid.uuid4()))
    sandbox.sth.clear()
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", job.series.iloc[-3:])
    with pytest.raises(Exception, match="not enough recent data to forecast"):
        forecast(job.model_id)
    assert ForecastRepository(db).count() == 1


def test_publication_failure_keeps_the_forecast(db: Any, sandbox: Any, job: Trained) -> None:
    sandbox.orion.inject_faults(Fault.server_error(503), repeat=1000)
    result = forecast(job.model_id)
    publication = result["publication"]
    assert publication["status"] == "failed"
    assert "Orion" in publication["error"]
    assert publication["attempts"] == 3  # HTTP retries inside each of 1 + 2 task attempts
    assert len(result["points"]) == 3
    state = TrainingJobRepository(db).get(job.job_id).prediction_config
    assert "was not published" in (state.last_error or "")


# ---------------------------------------------------------------------------- recurring


def test_enable_disable_and_enable_again(db: Any, job: Trained) -> None:
    with pytest.raises(InvalidInput, match="interval_seconds must be between 60"):
        enable_forecasts(job.job_id, interval_seconds=30)
    state = enable_forecasts(job.job_id)
    assert state["enabled"] and state["interval_seconds"] == INTERVAL
    assert state["forecast_entity_id"] == ENTITY_ID
    assert parse_datetime(state["next_prediction_at"]) <= utc_now()

    report = run_due_forecasts()
    assert report["due"] == 1 and report["succeeded"] == 1

    state = disable_forecasts(job.job_id)
    assert not state["enabled"] and state["was_enabled"]
    make_due(db, job.job_id)
    TrainingJobRepository(db).set_fields(job.job_id, {"next_prediction_at": None})
    assert run_due_forecasts()["due"] == 0

    state = enable_forecasts(job.job_id, interval_seconds=120)
    assert state["enabled"] and state["interval_seconds"] == 120
    assert state["disabled_reason"] is None
    assert run_due_forecasts()["succeeded"] == 1
    assert ForecastRepository(db).count() == 2


def add_scheduled_copies(db: Any, job: Trained, count: int) -> list[str]:
    """``count`` more models with a completed job each, sharing the trained artifacts."""
    jobs = TrainingJobRepository(db)
    source = jobs.get(job.job_id)
    model = db[MODELS].find_one({"id": job.model_id}, {"_id": False})
    ids = [job.job_id]
    for _ in range(count):
        model_id = str(uuid.uuid4())
        db[MODELS].insert_one({**model, "id": model_id})
        copy = source.model_copy(update={"id": str(uuid.uuid4()), "model_id": model_id})
        jobs.insert(copy)
        ids.append(copy.id)
    for job_id in ids:
        enable_forecasts(job_id, interval_seconds=60)
    return ids


def test_two_concurrent_sweeps_make_one_forecast_per_job_and_slot(
    db: Any, sandbox: Any, job: Trained
) -> None:
    job_ids = add_scheduled_copies(db, job, 3)
    jobs = TrainingJobRepository(db)
    slots = {job_id: jobs.get(job_id).next_prediction_at for job_id in job_ids}
    barrier = threading.Barrier(2)
    reports: list[Any] = [None, None]

    def sweep(i: int) -> None:
        barrier.wait()
        try:
            reports[i] = run_due_forecasts()
        except Exception as error:  # reported below
            reports[i] = error

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(report, dict) for report in reports), reports
    assert sum(r["succeeded"] for r in reports) == 4
    assert sum(r["succeeded"] + r["skipped"] for r in reports) == sum(r["due"] for r in reports)
    repo = ForecastRepository(db)
    assert repo.count() == 4
    for job_id, slot in slots.items():
        assert slot is not None and repo.count_for_slot(job_id, slot) == 1


def test_slot_coalescing_after_a_long_pause(db: Any, job: Trained) -> None:
    enable_forecasts(job.job_id, interval_seconds=60)
    make_due(db, job.job_id, ago=timedelta(hours=5, seconds=20))
    slot = TrainingJobRepository(db).get(job.job_id).next_prediction_at
    assert slot is not None
    report = run_due_forecasts()
    assert report["due"] == 1 and report["succeeded"] == 1
    (stored,) = ForecastRepository(db).list_for_model(job.model_id)
    assert stored.scheduled_for == slot
    next_at = TrainingJobRepository(db).get(job.job_id).next_prediction_at
    assert next_at is not None
    assert next_at == slot + timedelta(seconds=60 * (5 * 60 + 1))
    assert run_due_forecasts()["due"] == 0


def test_orion_down_then_back(db: Any, sandbox: Any, job: Trained) -> None:
    enable_forecasts(job.job_id, interval_seconds=60)
    sandbox.orion.inject_faults(Fault.server_error(503), repeat=1000)
    report = run_due_forecasts()
    assert report["publication_failed"] == 1
    (run,) = report["runs"]
    stored = ForecastRepository(db).get(run["forecast_id"])
    assert stored.publication.status is PublicationStatus.FAILED
    assert stored.publication.attempts == 3  # the task was retried twice
    state = TrainingJobRepository(db).get(job.job_id)
    assert state.prediction_config.consecutive_failures == 1
    assert "not published" in (state.prediction_config.last_error or "")

    sandbox.orion.clear_faults()
    make_due(db, job.job_id)
    report = run_due_forecasts()
    assert report["succeeded"] == 1
    state = TrainingJobRepository(db).get(job.job_id)
    assert state.prediction_config.consecutive_failures == 0
    assert state.prediction_config.last_error is None
    assert state.prediction_config.last_success_at is not None
    assert orion_entity(sandbox) is not None


def test_deleted_artifacts_disable_the_schedule(db: Any, job: Trained) -> None:
    enable_forecasts(job.job_id, interval_seconds=60)
    ArtifactStore(db).delete_for_job(job.job_id)
    report = run_due_forecasts()
    assert report["disabled"] == 1
    state = TrainingJobRepository(db).get(job.job_id).prediction_config
    assert not state.enabled
    assert "is gone" in (state.disabled_reason or "")
    with pytest.raises(NotFound, match=r"the stored model of training job .* is gone"):
        forecast(job.model_id)
    assert run_due_forecasts()["due"] == 0


# ---------------------------------------------------------------------------- CLI


@pytest.fixture
def chronos(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    from cli.main import app

    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        get_settings.cache_clear()
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_cli_forecast_history_and_predictions(db: Any, job: Trained, chronos: Any) -> None:
    result = chronos("forecast", job.model_id, "--no-publish", "--json")
    assert result.exit_code == 0, result.output
    forecast_id = json.loads(result.stdout)["forecast_id"]

    result = chronos("forecast", "history", job.model_id, "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["id"] == forecast_id and entry["publication_status"] == "skipped"
    assert [p["step"] for p in entry["points"]] == [1, 2, 3]
    table = chronos("forecast", "history", job.model_id)
    assert table.exit_code == 0 and forecast_id in table.stdout

    enabled = chronos("predictions", "enable", job.job_id, "--interval-seconds", "300", "--json")
    assert enabled.exit_code == 0, enabled.output
    assert json.loads(enabled.stdout)["interval_seconds"] == 300
    swept = chronos("predictions", "run-due", "--json")
    assert swept.exit_code == 0 and json.loads(swept.stdout)["succeeded"] == 1
    disabled = chronos("predictions", "disable", job.job_id, "--json")
    assert disabled.exit_code == 0 and json.loads(disabled.stdout)["enabled"] is False
