"""NGSI-LD mode end to end: history from the temporal API, train, forecast, publish to the
sandbox Orion-LD, read the forecast history back - through the real flows, tiny network."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chronos_core.forecasting.history import forecast_history
from chronos_core.forecasting.ld_publication import chronos_context_document
from chronos_core.services.models import register_model
from chronos_core.settings import get_settings
from chronos_core.storage.database import bootstrap, client_for
from chronos_core.storage.training_job_repository import TrainingJobRepository
from fiware_sandbox import FiwareSandbox
from fiware_sandbox.orion_ld import CHRONOS_CONTEXT_PATH
from fiware_sandbox.wire import to_epoch_ms

SOURCE = "urn:ngsi-ld:Room:Room1"
FORECAST = "urn:ngsi-ld:Forecast:Room:Room1:temperature"
TINY = {
    "model_type": "gru",
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": SOURCE,
    "epochs": 1,
    "batch_size": 32,
    "rnn_layers": [{"units": 3, "dropout": 0.0}],
    "dense_layers": [],
    "lookback_window": 8,
    "forecast_horizon": 3,
}


@pytest.fixture
def ld_sandbox() -> Iterator[FiwareSandbox]:
    ports = {"sth_port": None, "orion_port": None, "iot_agent_port": None}
    with FiwareSandbox(**ports, orion_ld_port=0, temporal_port=0, temporal_max_instances=50) as box:
        box.orion_ld.serve_chronos_context(chronos_context_document())
        yield box


def test_train_forecast_publish_and_history_in_ngsi_ld_mode(
    mongodb_uri: str, ld_sandbox: FiwareSandbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"chronos_test_ld_{uuid.uuid4().hex[:10]}"
    database = client_for(mongodb_uri)[name]
    bootstrap(database)
    context = f"{ld_sandbox.orion_ld_url}{CHRONOS_CONTEXT_PATH}"
    for key, value in {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": name,
        "DATA_DIR": str(tmp_path),
        "HTTP_BACKOFF_SECONDS": "0.001",
        "NGSI_FLAVOUR": "ld",
        "ORION_LD_URL": ld_sandbox.orion_ld_url,
        "NGSI_LD_TEMPORAL_URL": ld_sandbox.temporal_url,
        "NGSI_LD_CONTEXT_URL": context,
        "NGSI_LD_TEMPORAL_PAGE_SIZE": "40",
        "COLLECTION_PAGES_PER_CHUNK": "2",
        "FORECAST_PUBLICATION_RETRY_DELAY_SECONDS": "0",
    }.items():
        monkeypatch.setenv(f"CHRONOS_{key}", value)
    get_settings.cache_clear()
    index = pd.date_range("2024-01-01", periods=240, freq="15min", tz="UTC")
    values = np.round(20 + 3 * np.sin(2 * np.pi * np.arange(240) / 96), 3)
    ld_sandbox.orion_ld.seed_history(
        "smart",
        "Room",
        SOURCE,
        "temperature",
        [(to_epoch_ms(t.to_pydatetime()), float(v)) for t, v in zip(index, values, strict=True)],
        context=context,
    )
    try:
        from flows.forecast import forecast
        from flows.training import train_model

        model_id = register_model(database, TINY, get_settings()).id
        job_id = train_model(model_id, last_n=240)
        job = TrainingJobRepository(database).get(job_id)
        assert job.status.value == "completed"
        assert len(job.data_collection_jobs) == 3  # 240 points, 40 per page, 2 pages per chunk

        result = forecast(model_id)
        assert result["publication"]["status"] == "published"
        assert result["publication"]["entity_id"] == FORECAST

        entity = ld_sandbox.orion_ld.entity("smart", FORECAST, context)
        assert entity is not None and entity["type"] == "Forecast"
        assert entity["refEntity"] == {"type": "Relationship", "object": SOURCE}
        assert entity["dateIssued"]["observedAt"] == result["issued_at"]
        series = entity["forecastSeries"]["value"]
        assert [p["step"] for p in series["points"]] == [1, 2, 3]
        assert entity["validTo"]["value"]["@value"] == series["points"][-1]["targetTimestamp"]
        history = forecast_history(database, model_id)
        assert [h.id for h in history] == [result["forecast_id"]]
    finally:
        get_settings.cache_clear()
        database.client.drop_database(name)
