"""Computing a forecast: artifacts from GridFS (safe mode), the newest points from the sandbox's
STH-Comet, the stored record, and every refusal."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from forecast_test_data import INTERVAL, LOOKBACK, TENANT, sine

from chronos_core.clock import utc_now
from chronos_core.domain.enums import TrainingStatus
from chronos_core.domain.forecast import ForecastTrigger, PublicationStatus
from chronos_core.domain.training_job import TrainingJob
from chronos_core.errors import Conflict, InsufficientData, InvalidInput, NotFound
from chronos_core.forecasting.errors import ArtifactsMissing, ArtifactsUnusable, StaleData
from chronos_core.forecasting.forecaster import forecast_now, forecast_summary
from chronos_core.forecasting.model_cache import ModelCache
from chronos_core.ml.inference import forecast as run_network
from chronos_core.ml.model_io import load_network
from chronos_core.ml.scalers import StandardScaler
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository

pytestmark = pytest.mark.slow


def seed(sandbox: Any, series: pd.Series, entity_id: str = "Room1") -> None:
    sandbox.sth.seed(TENANT, "Room", entity_id, "temperature", series)


def test_forecast_from_the_newest_points(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    model, job = completed_job()
    series = sine(50)
    seed(sandbox, series)

    computed = forecast_now(db, model.id, settings=fsettings, cache=cache)
    record = computed.record
    assert computed.model_loaded
    assert record.trigger is ForecastTrigger.ON_DEMAND
    assert record.training_job_id == job.id and record.model_id == model.id
    assert record.publication.status is PublicationStatus.PENDING
    assert record.publication.entity_id == "urn:ngsi-ld:Forecast:Room:Room1:temperature"
    assert record.context_values == pytest.approx(series.to_numpy()[-LOOKBACK:].tolist())
    last = series.index[-1].to_pydatetime()
    assert record.last_observed_at == last
    assert [p.step for p in record.points] == [1, 2, 3]
    assert [p.target_timestamp for p in record.points] == [
        last + timedelta(seconds=INTERVAL * k) for k in (1, 2, 3)
    ]
    # The same numbers as running the stored network directly.
    store = ArtifactStore(db)
    network = load_network(store.download(job.model_artifact_id))
    x_scaler = StandardScaler.from_dict(json.loads(store.download(job.x_scaler_artifact_id)))
    y_scaler = StandardScaler.from_dict(json.loads(store.download(job.y_scaler_artifact_id)))
    expected = run_network(network, x_scaler, y_scaler, series.to_numpy()[-LOOKBACK:])
    assert [p.value for p in record.points] == pytest.approx(expected.tolist(), rel=1e-5)
    assert record.expires_at == record.issued_at + timedelta(days=fsettings.forecast_retention_days)
    # Stored before anything else happens.
    stored = ForecastRepository(db).get(record.id)
    assert stored.points == record.points

    summary = forecast_summary(stored)
    assert [p["timestamp"] for p in summary["context_window"]][-1] == "2024-01-05T00:00:00.000Z"
    assert summary["points"][0] == {
        "step": 1,
        "value": pytest.approx(expected[0]),
        "target_timestamp": "2024-01-05T00:15:00.000Z",
    }
    assert len(summary["context_window"]) == LOOKBACK


def test_second_forecast_uses_the_cached_model(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    model, _ = completed_job()
    seed(sandbox, sine(20))
    assert forecast_now(db, model.id, settings=fsettings, cache=cache).model_loaded
    assert not forecast_now(db, model.id, settings=fsettings, cache=cache).model_loaded
    assert cache.stats().loads == 1
    assert ForecastRepository(db).count() == 2


def test_latest_completed_job_is_the_default(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    model, first = completed_job()
    seed(sandbox, sine(20))
    jobs = TrainingJobRepository(db)
    newer = first.model_copy(
        update={"id": "6f0c1d4e-2b3a-4c5d-8e9f-0a1b2c3d4e5f", "created_at": utc_now()}
    )
    jobs.insert(newer)
    assert forecast_now(db, model.id, settings=fsettings, cache=cache).record.training_job_id == (
        newer.id
    )
    chosen = forecast_now(db, model.id, first.id, settings=fsettings, cache=cache)
    assert chosen.record.training_job_id == first.id


@pytest.mark.parametrize(
    ("points", "message"),
    [(0, "STH-Comet has no data for Room Room1, attribute temperature"), (4, "needs the last 6")],
)
def test_too_little_data_is_a_clear_error(
    db: Any,
    fsettings: Settings,
    sandbox: Any,
    completed_job: Any,
    cache: ModelCache,
    points: int,
    message: str,
) -> None:
    model, _ = completed_job()
    if points:
        seed(sandbox, sine(points))
    with pytest.raises(InsufficientData, match=message):
        forecast_now(db, model.id, settings=fsettings, cache=cache)
    assert ForecastRepository(db).count() == 0


def test_a_long_gap_inside_the_window_is_refused_saying_when_forecasts_resume(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    model, _ = completed_job()
    series = sine(30)
    seed(sandbox, pd.concat([series.iloc[:20], series.iloc[-3:]]))  # 7 missing points
    resumes = series.index[-3] + pd.Timedelta(seconds=INTERVAL * (LOOKBACK - 1))
    with pytest.raises(InsufficientData, match="gap of 7 missing points") as info:
        forecast_now(db, model.id, settings=fsettings, cache=cache)
    assert f"forecasts resume from {resumes.isoformat()}" in info.value.message
    assert ForecastRepository(db).count() == 0


def test_a_short_gap_is_filled_and_the_record_flags_the_filled_inputs(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    model, _ = completed_job()
    series = sine(30)
    seed(sandbox, series.drop(series.index[-4:-2]))  # 2 missing points inside the window
    record = forecast_now(db, model.id, settings=fsettings, cache=cache).record
    assert record.filled_inputs == [2, 3]
    assert record.last_observed_at == series.index[-1].to_pydatetime()
    observed = series.to_numpy()[-LOOKBACK:]
    assert [record.context_values[i] for i in (0, 1, 4, 5)] == pytest.approx(observed[[0, 1, 4, 5]])
    assert forecast_summary(record)["filled_inputs"] == [2, 3]
    assert ForecastRepository(db).get(record.id).filled_inputs == [2, 3]


def test_stale_data_is_refused(
    db: Any, sandbox: Any, completed_job: Any, cache: ModelCache, monkeypatch: Any
) -> None:
    from chronos_core.settings import get_settings

    monkeypatch.setenv("CHRONOS_FORECAST_STALENESS_SECONDS", "3600")
    get_settings.cache_clear()
    settings = get_settings()
    model, _ = completed_job()
    seed(sandbox, sine(20))  # ends 2024-01-05
    with pytest.raises(StaleData, match="CHRONOS_FORECAST_STALENESS_SECONDS"):
        forecast_now(db, model.id, settings=settings, cache=cache)
    fresh = sine(20, end=utc_now() - timedelta(minutes=5))
    sandbox.sth.clear()
    seed(sandbox, fresh)
    record = forecast_now(db, model.id, settings=settings, cache=cache).record
    assert record.points[0].target_timestamp > utc_now() - timedelta(minutes=5)


def test_deleted_artifacts_are_a_clear_error_even_when_cached(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    model, job = completed_job()
    seed(sandbox, sine(20))
    forecast_now(db, model.id, settings=fsettings, cache=cache)  # now cached
    ArtifactStore(db).delete(job.x_scaler_artifact_id)
    with pytest.raises(ArtifactsMissing, match="its x_scaler artifact\\(s\\) were deleted"):
        forecast_now(db, model.id, settings=fsettings, cache=cache)
    assert len(cache) == 0
    with pytest.raises(ArtifactsMissing, match="its x_scaler artifact\\(s\\) were deleted"):
        forecast_now(db, model.id, settings=fsettings, cache=cache)


def test_a_corrupted_network_is_unusable(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any, cache: ModelCache
) -> None:
    model, job = completed_job()
    seed(sandbox, sine(20))
    store = ArtifactStore(db)
    bad = store.upload(
        b"not a zip",
        "model.keras",
        model_id=model.id,
        training_job_id=job.id,
        artifact_type="model",
        content_type="application/x-keras",
    )
    TrainingJobRepository(db).set_fields(job.id, {"model_artifact_id": bad})
    with pytest.raises(ArtifactsUnusable, match=r"not a \.keras"):
        forecast_now(db, model.id, settings=fsettings, cache=cache)


def test_refusals_write_nothing(
    db: Any,
    fsettings: Settings,
    sandbox: Any,
    completed_job: Any,
    cache: ModelCache,
    make_model: Any,
) -> None:
    model, job = completed_job()
    other, other_job = completed_job("Room2")
    seed(sandbox, sine(20))
    with pytest.raises(InvalidInput, match="model id 'nope' is not a valid id"):
        forecast_now(db, "nope", settings=fsettings, cache=cache)
    with pytest.raises(NotFound, match=r"model .* not found"):
        forecast_now(db, "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d", settings=fsettings, cache=cache)
    with pytest.raises(InvalidInput, match=f"belongs to model {other.id}"):
        forecast_now(db, model.id, other_job.id, settings=fsettings, cache=cache)
    failed = TrainingJob(model_id=model.id, status=TrainingStatus.FAILED, error="boom")
    TrainingJobRepository(db).insert(failed)
    with pytest.raises(Conflict, match=f"training job {failed.id} is failed"):
        forecast_now(db, model.id, failed.id, settings=fsettings, cache=cache)
    draft = make_model(entity_id="Room3")
    ModelRepository(db).insert(draft)
    with pytest.raises(Conflict, match="no completed training job"):
        forecast_now(db, draft.id, settings=fsettings, cache=cache)
    assert ForecastRepository(db).count() == 0
    assert np.isfinite(
        forecast_now(db, model.id, job.id, settings=fsettings, cache=cache).record.points[0].value
    )
