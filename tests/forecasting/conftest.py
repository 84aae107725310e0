"""Fixtures for the forecasting core: a running FIWARE sandbox and completed training jobs whose
artifacts are a real (tiny, untrained) Keras network with JSON scalers and metadata, stored in
GridFS exactly as the training flow stores them. Training itself is exercised by
``tests/flows/test_forecast_flows.py``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from forecast_test_data import HORIZON, INTERVAL, LOOKBACK
from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ArtifactType, ModelStatus, TrainingStatus
from chronos_core.domain.model import Model
from chronos_core.domain.training_job import TrainingJob
from chronos_core.forecasting.model_cache import ModelCache
from chronos_core.forecasting.publication import forget_history_subscriptions
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    from fiware_sandbox import FiwareSandbox

    with FiwareSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_server: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The sandbox, emptied, with ``CHRONOS_*_URL`` pointing at it."""
    sandbox_server.clear()
    forget_history_subscriptions()
    for name, url in (
        ("STH_URL", sandbox_server.sth_url),
        ("ORION_URL", sandbox_server.orion_url),
        ("IOT_AGENT_URL", sandbox_server.iot_agent_url),
    ):
        monkeypatch.setenv(f"CHRONOS_{name}", url)
    monkeypatch.setenv("CHRONOS_HTTP_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("CHRONOS_FORECAST_PUBLICATION_RETRY_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    return sandbox_server


@pytest.fixture
def fsettings(sandbox: Any) -> Settings:
    """Settings on the test database and the sandbox."""
    return get_settings()


@pytest.fixture
def cache() -> ModelCache:
    return ModelCache(8)


@pytest.fixture(scope="session")
def network_bytes() -> bytes:
    """A real ``.keras`` LSTM (lookback 6, horizon 3), built once per session."""
    from chronos_core.domain.model import RNNLayer
    from chronos_core.ml import tf_runtime
    from chronos_core.ml.model_io import serialize_network
    from chronos_core.ml.rnn import build_network

    tf_runtime.configure(1, 42)
    network = build_network(
        "lstm",
        lookback_window=LOOKBACK,
        forecast_horizon=HORIZON,
        rnn_layers=[RNNLayer(units=3, dropout=0.0)],
        dense_layers=[],
        learning_rate=0.01,
        seed=7,
    )
    return serialize_network(network)


CompletedJob = Callable[..., tuple[Model, TrainingJob]]


@pytest.fixture
def completed_job(
    db: Database[dict[str, Any]], make_model: Callable[..., Model], network_bytes: bytes
) -> CompletedJob:
    """``completed_job(entity_id="Room1", **model_changes)``: a trained model and its completed
    job with stored artifacts (the model's entity is ``Room``/``entity_id``, attribute
    ``temperature``). ``intervals=`` puts an ``intervals`` document in the metadata."""

    def create(
        entity_id: str = "Room1", intervals: dict[str, Any] | None = None, **changes: Any
    ) -> tuple[Model, TrainingJob]:
        model = make_model(
            entity_id=entity_id, lookback_window=LOOKBACK, forecast_horizon=HORIZON, **changes
        )
        model = model.model_copy(
            update={"status": ModelStatus.TRAINED, "has_successful_training": True}
        )
        ModelRepository(db).insert(model)
        now = utc_now()
        job = TrainingJob(
            model_id=model.id,
            status=TrainingStatus.COMPLETED,
            sampling_interval_seconds=INTERVAL,
            created_at=now,
            updated_at=now,
            start_time=now - timedelta(seconds=5),
            end_time=now,
        )
        store = ArtifactStore(db)
        scaler = {
            "format": "chronos.standard_scaler",
            "format_version": 1,
            "mean": 20.0,
            "scale": 2.0,
            "n_samples_seen": 100,
        }
        metadata = {
            "format": "chronos.training_metadata",
            "format_version": 1,
            "model_id": model.id,
            "training_job_id": job.id,
            "lookback_window": LOOKBACK,
            "forecast_horizon": HORIZON,
            "feature": model.feature,
            "feature_columns": ["value"],
            "entity_type": model.entity_type,
            "entity_id": model.entity_id,
            "service": model.service,
            "service_path": model.service_path,
            "sampling_interval_seconds": INTERVAL,
        }
        if intervals is not None:
            metadata["intervals"] = intervals
        files = {
            ArtifactType.MODEL: (network_bytes, "application/x-keras"),
            ArtifactType.X_SCALER: (json.dumps(scaler).encode(), "application/json"),
            ArtifactType.Y_SCALER: (json.dumps(scaler).encode(), "application/json"),
            ArtifactType.METADATA: (json.dumps(metadata).encode(), "application/json"),
        }
        ids = {
            kind: store.upload(
                data,
                f"{kind.value}.bin",
                model_id=model.id,
                training_job_id=job.id,
                artifact_type=kind,
                content_type=content_type,
            )
            for kind, (data, content_type) in files.items()
        }
        job = job.model_copy(
            update={
                "model_artifact_id": ids[ArtifactType.MODEL],
                "x_scaler_artifact_id": ids[ArtifactType.X_SCALER],
                "y_scaler_artifact_id": ids[ArtifactType.Y_SCALER],
                "metadata_artifact_id": ids[ArtifactType.METADATA],
            }
        )
        TrainingJobRepository(db).insert(job)
        return model, job

    return create
