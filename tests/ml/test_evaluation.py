"""Test-set evaluation against baselines on the same windows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from chronos_core.domain.model import RNNLayer
from chronos_core.ml import metrics
from chronos_core.ml.baselines import naive_forecast, seasonal_naive_forecast
from chronos_core.ml.evaluation import evaluate
from chronos_core.ml.preprocessing import prepare
from chronos_core.ml.rnn import build_network


@pytest.fixture(scope="module")
def evaluation(trained, sine_prepared):
    network, _, _ = trained
    return evaluate(network, sine_prepared)


def test_model_metrics_use_the_test_windows_in_original_units(evaluation, sine_prepared):
    assert evaluation.windows == len(sine_prepared.x_test) and evaluation.horizon == 3
    np.testing.assert_array_equal(evaluation.actual, sine_prepared.test_targets)
    assert evaluation.model.mae == pytest.approx(
        metrics.mae(evaluation.actual, evaluation.predicted)
    )
    assert len(evaluation.model.per_step_mae) == 3
    scale = metrics.in_sample_naive_mae(sine_prepared.train_values)
    assert evaluation.mase_season == 1 and evaluation.mase_scale == pytest.approx(scale)
    assert evaluation.model.mase == pytest.approx(evaluation.model.mae / scale)


def test_naive_baseline_and_skill(evaluation, sine_prepared):
    naive = naive_forecast(sine_prepared.test_inputs, 3)
    assert evaluation.baselines["naive"].mae == pytest.approx(
        metrics.mae(sine_prepared.test_targets, naive)
    )
    assert evaluation.baselines["naive"].theil_u2 == pytest.approx(1.0)
    # Half-hourly data with a 12-point lookback cannot hold a daily season.
    assert "seasonal_naive" not in evaluation.baselines
    assert "shorter than one day (48 points)" in evaluation.skipped_baselines["seasonal_naive"]
    assert evaluation.best_baseline == "naive"
    assert evaluation.skill == pytest.approx(
        1 - evaluation.model.mae / evaluation.baselines["naive"].mae
    )
    assert evaluation.beats_naive == (evaluation.model.mae < evaluation.baselines["naive"].mae)


def test_to_dict_is_json_safe_and_compact(evaluation):
    document = evaluation.to_dict()
    text = json.dumps(document, allow_nan=False)
    assert document["test_predictions"]["window_stride"] == 1
    assert len(document["test_predictions"]["predicted"]) == evaluation.windows
    assert "NaN" not in text
    small = evaluation.stored_predictions(max_values=30)
    assert small["window_stride"] == 3 and len(small["predicted"]) == 10
    first = pd.Timestamp(small["first_target_timestamps"][1])
    assert first == pd.Timestamp(evaluation.target_timestamps[3, 0], tz="UTC")
    assert small["actual"][1] == list(evaluation.actual[3])


def test_seasonal_naive_joins_when_the_lookback_holds_a_day(keras_runtime):
    index = pd.date_range("2024-01-01", periods=24 * 20, freq="1h", tz="UTC")
    daily = 20 + 5 * np.sin(2 * np.pi * np.arange(len(index)) / 24)
    prepared = prepare(
        pd.Series(daily, index=index),
        lookback_window=24,
        forecast_horizon=6,
        validation_ratio=0.2,
        test_ratio=0.2,
    )
    network = build_network("gru", 24, 6, [RNNLayer(units=2)], [], 0.01, seed=0)  # untrained
    result = evaluate(network, prepared)
    assert result.season.steps == 24 and result.mase_season == 24
    seasonal = seasonal_naive_forecast(prepared.test_inputs, 6, 24)
    np.testing.assert_allclose(seasonal, prepared.test_targets, atol=1e-9)  # perfectly periodic
    assert result.baselines["seasonal_naive"].mae == pytest.approx(0.0, abs=1e-9)
    assert result.best_baseline == "seasonal_naive"
    assert result.skill is None  # the best baseline is perfect: no finite skill
    assert result.skill_by_baseline["naive"] is not None
    json.dumps(result.to_dict(), allow_nan=False)
