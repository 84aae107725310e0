"""The rolling-origin backtest: the model and every baseline on the same test origins."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from chronos_core.domain.model import RNNLayer
from chronos_core.ml import metrics
from chronos_core.ml.evaluation import backtest_stride, evaluate, statistical_baseline
from chronos_core.ml.preprocessing import prepare
from chronos_core.ml.rnn import build_network


@pytest.fixture(scope="module")
def evaluation(trained, sine_prepared):
    network, _, _ = trained
    return evaluate(network, sine_prepared)


def test_model_metrics_use_the_test_windows_in_original_units(evaluation, sine_prepared):
    assert evaluation.windows == len(sine_prepared.x_test) and evaluation.horizon == 3
    assert evaluation.stride == 1 and evaluation.test_windows == evaluation.windows
    np.testing.assert_array_equal(evaluation.actual, sine_prepared.test_targets)
    assert evaluation.model.mae == pytest.approx(
        metrics.mae(evaluation.actual, evaluation.predicted)
    )
    assert len(evaluation.model.per_step_mae) == 3 and len(evaluation.model.per_step_rmse) == 3
    # MASE scale: the in-sample daily seasonal naive (48 half-hours) of the training part.
    scale = metrics.in_sample_naive_mae(sine_prepared.train_values, 48)
    assert evaluation.mase_season == 48 and evaluation.mase_scale == pytest.approx(scale)
    assert evaluation.model.mase == pytest.approx(evaluation.model.mae / scale)


def test_a_statistical_baseline_computed_beforehand_scores_the_same(trained, sine_prepared):
    # The training flow computes it while the network fits, with a stride of 2 here.
    network, _, _ = trained
    inline = evaluate(network, sine_prepared, max_origins=5)
    statistical = statistical_baseline(sine_prepared, max_origins=5)
    ahead = evaluate(network, sine_prepared, max_origins=5, statistical=statistical)
    name = inline.statistical["name"]
    assert ahead.statistical == inline.statistical and inline.stride > 1
    assert ahead.baselines[name] == inline.baselines[name]
    assert ahead.skipped_baselines == inline.skipped_baselines


def test_baselines_read_the_full_history_not_the_lookback(evaluation, sine_prepared):
    values = sine_prepared.series_values
    origins = sine_prepared.test_origin_positions
    np.testing.assert_array_equal(values[origins - 1], sine_prepared.test_inputs[:, -1])
    assert evaluation.baselines["naive"].mae == pytest.approx(
        metrics.mae(sine_prepared.test_targets, np.repeat(values[origins - 1, None], 3, axis=1))
    )
    # The lookback is 12 points, one day 48: the daily seasonal naive is computed anyway.
    day = values[origins[:, None] + np.arange(3) - 48]
    assert evaluation.baselines["seasonal_naive_day"].mae == pytest.approx(
        metrics.mae(sine_prepared.test_targets, day)
    )
    # 200 points hold no week of history before the test part: skipped, with the reason.
    assert "one week, 336 points" in evaluation.skipped_baselines["seasonal_naive_week"]
    # The statistical baseline is always there (ETS when no season was detected).
    statistical = evaluation.statistical["name"]
    assert statistical in ("mstl", "ets") and statistical in evaluation.baselines
    best = min(evaluation.baselines, key=lambda n: evaluation.baselines[n].mae)
    assert evaluation.best_baseline == best
    assert evaluation.skill == pytest.approx(
        1 - evaluation.model.mae / evaluation.baselines[best].mae
    )


def test_verdict_names_the_best_forecaster_and_the_margin(evaluation):
    beats = all(evaluation.model.mae < m.mae for m in evaluation.baselines.values())
    assert (evaluation.best_forecaster == "model") == beats
    if beats:
        assert evaluation.verdict.startswith("The model beats every baseline")
    else:
        assert evaluation.verdict.startswith("The model does NOT beat every baseline")
        best = evaluation.baselines[evaluation.best_baseline].mae
        assert f"{evaluation.model.mae / best - 1:.1%} higher" in evaluation.verdict
    assert "Not computed: " in evaluation.verdict and "seasonal_naive_week" in evaluation.verdict


def test_to_dict_is_json_safe_and_compact(evaluation):
    document = evaluation.to_dict()
    text = json.dumps(document, allow_nan=False)
    assert document["test_predictions"]["window_stride"] == 1
    assert len(document["test_predictions"]["predicted"]) == evaluation.windows
    assert "NaN" not in text
    backtest = document["backtest"]
    assert backtest["origins"] == evaluation.windows and backtest["stride"] == 1
    assert set(backtest["model"]) >= {"mae", "rmse", "per_step_mae", "per_step_rmse"}
    assert backtest["verdict"] == evaluation.verdict
    intervals = document["intervals"]
    assert intervals["levels"] == [80, 95] and intervals["method"] == "split-conformal"
    assert set(intervals["coverage"]) == {"80", "95"}
    small = evaluation.stored_predictions(max_values=30)
    assert small["window_stride"] == 3 and len(small["predicted"]) == 10
    first = pd.Timestamp(small["first_target_timestamps"][1])
    assert first == pd.Timestamp(evaluation.target_timestamps[3, 0], tz="UTC")
    assert small["actual"][1] == list(evaluation.actual[3])


def test_a_stride_keeps_every_forecaster_on_the_same_origins(trained, sine_prepared):
    network, _, _ = trained
    strided = evaluate(network, sine_prepared, max_origins=10)
    total = len(sine_prepared.x_test)
    assert strided.stride == backtest_stride(total, 10) == 3
    assert strided.windows == len(range(0, total, 3))
    np.testing.assert_array_equal(strided.actual, sine_prepared.test_targets[::3])
    origins = sine_prepared.test_origin_positions[::3]
    naive = np.repeat(sine_prepared.series_values[origins - 1, None], 3, axis=1)
    assert strided.baselines["naive"].mae == pytest.approx(metrics.mae(strided.actual, naive))


def test_seasons_longer_than_the_lookback_keep_their_baselines(keras_runtime):
    """Hourly data with a daily and a weekly cycle, lookback 6: both seasonal naives and MSTL
    at the detected seasons are computed from the full history."""
    index = pd.date_range("2024-01-01", periods=24 * 7 * 6, freq="1h", tz="UTC")
    t = np.arange(len(index))
    rng = np.random.default_rng(3)
    values = (
        20 + 4 * np.sin(2 * np.pi * t / 24) + 2 * np.sin(2 * np.pi * t / 168)
        + rng.normal(0, 0.2, t.size)
    )  # fmt: skip
    prepared = prepare(
        pd.Series(values, index=index),
        lookback_window=6,
        forecast_horizon=4,
        validation_ratio=0.15,
        test_ratio=0.15,
    )
    network = build_network("gru", 6, 4, [RNNLayer(units=2)], [], 0.01, seed=0)  # untrained
    result = evaluate(network, prepared, max_origins=30)
    assert {"naive", "seasonal_naive_day", "seasonal_naive_week"} <= set(result.baselines)
    origins = prepared.test_origin_positions[:: result.stride]
    week = prepared.series_values[origins[:, None] + np.arange(4) - 168]
    assert result.baselines["seasonal_naive_week"].mae == pytest.approx(
        metrics.mae(result.actual, week)
    )
    assert [s["steps"] for s in result.seasons] == [24, 168]
    assert result.statistical["name"] == "mstl" and "mstl" in result.baselines
    assert result.statistical["seasons"] == [24, 168]
    assert result.baselines["mstl"].mae < result.baselines["naive"].mae
    assert result.best_forecaster != "model"  # an untrained network loses
    assert "does NOT beat every baseline" in result.verdict
    json.dumps(result.to_dict(), allow_nan=False)
