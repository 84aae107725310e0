"""What a Prefect UI user sees: the artifacts of register-model, train-model and forecast, and
the keys that link a model to its jobs and forecasts."""

from __future__ import annotations

from typing import Any

import pytest

from chronos_core.fiware.tenant import Tenant
from chronos_core.services import summaries
from chronos_core.settings import Settings

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

TINY = {
    "model_type": "gru",
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": "Room1",
    "epochs": 2,
    "rnn_layers": [{"units": 4, "dropout": 0.0}],
    "lookback_window": 8,
    "forecast_horizon": 3,
}


def latest(key: str) -> Any:
    from prefect.artifacts import Artifact

    artifact = Artifact.get(key)
    assert artifact is not None, f"no artifact {key}"
    return artifact


def test_model_job_and_forecast_artifacts_link_up(
    settings: Settings, sandbox: Any, sine_series: Any
) -> None:
    from flows.forecast import forecast
    from flows.models import register_model
    from flows.training import train_model

    sandbox.sth.seed(Tenant("smart", "/"), "Room", "Room1", "temperature", sine_series(240))
    model_id = register_model(TINY)
    registered = latest(summaries.model_key(model_id))
    assert model_id in registered.data and "`temperature` of Room `Room1`" in registered.data
    assert f"train-model** deployment with Model id `{model_id}`" in registered.data

    job_id = train_model(model_id, last_n=240)
    report = latest(summaries.training_key(job_id)).data
    assert report.count("](data:image/png;base64,") == 2  # test forecasts and loss curve
    metrics = latest(f"metrics-{job_id}").data
    shown = [v for row in _rows(metrics) for v in row.values() if isinstance(v, float)]
    assert shown and all(float(f"{v:.4g}") == v for v in shown), "metrics shown rounded"
    after_training = latest(summaries.model_key(model_id)).data
    assert f"`{job_id}` | completed" in after_training
    assert f"(Training job id `{job_id}`)" in after_training

    result = forecast(model_id, publish=False)
    rows = _rows(latest(summaries.forecast_key(model_id)).data)
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert [row["value"] for row in rows] == pytest.approx(
        [point["value"] for point in result["points"]], rel=1e-5
    )
    assert [row["target_timestamp"] for row in rows] == [
        point["target_timestamp"] for point in result["points"]
    ]
    chart = latest(summaries.forecast_plot_key(model_id)).data
    assert "](data:image/png;base64," in chart
    assert f"/artifacts/key/training-{job_id}" in chart
    final = latest(summaries.model_key(model_id)).data
    assert f"/artifacts/key/forecast-{model_id}" in final

    from flows.models import delete_model

    delete_model(model_id)
    assert "**Deleted**" in latest(summaries.model_key(model_id)).data


def _rows(data: Any) -> list[dict[str, Any]]:
    import json

    return json.loads(data) if isinstance(data, str) else list(data)


def test_interval_bounds_become_columns_when_every_point_has_them() -> None:
    points = [
        {"step": 1, "target_timestamp": "t1", "value": 1.0, "lower80": 0.5, "upper80": 1.5,
         "lower95": 0.2, "upper95": 1.8},
        {"step": 2, "target_timestamp": "t2", "value": 2.0, "lower80": 1.5, "upper80": 2.5,
         "lower95": 1.2},
    ]  # fmt: skip
    rows = summaries.point_rows(points)
    assert list(rows[0]) == ["step", "target_timestamp", "value", "lower80", "upper80"]
    assert rows[1]["upper80"] == 2.5
    assert list(summaries.point_rows([{"step": 1, "target_timestamp": "t", "value": 1.0}])[0]) == [
        "step",
        "target_timestamp",
        "value",
    ]
