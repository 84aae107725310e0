"""``prepare`` (split, scale, window) and ``latest_window`` on good and bad series."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from chronos_core.errors import InsufficientData, InvalidInput
from chronos_core.ml.preprocessing import latest_window, prepare
from chronos_core.ml.windowing import minimum_points

PARAMS = {
    "lookback_window": 12,
    "forecast_horizon": 3,
    "validation_ratio": 0.15,
    "test_ratio": 0.15,
}


def test_shapes_dtypes_and_counts(make_series):
    prepared = prepare(make_series(200), **PARAMS)
    # 200 points: train 140, validation 30, test 30.
    assert prepared.x_train.shape == (140 - 12 - 3 + 1, 12, 1)
    assert prepared.y_train.shape == (126, 3)
    assert prepared.x_val.shape == (30 - 3 + 1, 12, 1)
    assert prepared.x_test.shape == (28, 12, 1) and prepared.y_test.shape == (28, 3)
    for array in (prepared.x_train, prepared.y_train, prepared.x_val, prepared.y_test):
        assert array.dtype == np.float32
    assert prepared.test_inputs.shape == (28, 12) and prepared.test_targets.dtype == np.float64
    assert prepared.sampling_interval_seconds == 1800
    assert prepared.summary["windows"] == {"train": 126, "validation": 28, "test": 28}
    assert prepared.summary["split_points"] == {"train": 140, "validation": 30, "test": 30}
    json.dumps(prepared.summary, allow_nan=False)


def test_scalers_are_fitted_on_the_training_part_only(make_series):
    values = np.concatenate([np.linspace(0, 1, 140), np.full(60, 1000.0)])
    prepared = prepare(make_series(200, values=values), **PARAMS)
    assert prepared.x_scaler.mean == pytest.approx(values[:140].mean())
    assert prepared.x_scaler.scale == pytest.approx(values[:140].std())
    assert prepared.x_scaler == prepared.y_scaler
    assert prepared.x_scaler is not prepared.y_scaler
    assert prepared.x_scaler.n_samples_seen == 140
    np.testing.assert_array_equal(prepared.train_values, values[:140])


def test_windows_are_direct_multi_step_and_in_time_order(make_series):
    series = make_series(200)
    prepared = prepare(series, **PARAMS)
    values = series.to_numpy()
    # The first test window's targets start the test part; its inputs come from validation.
    np.testing.assert_allclose(prepared.test_targets[0], values[170:173])
    np.testing.assert_allclose(prepared.test_inputs[0], values[158:170])
    np.testing.assert_allclose(prepared.test_targets[-1], values[197:200])
    restored = prepared.y_scaler.inverse_transform(prepared.y_test)
    np.testing.assert_allclose(restored, prepared.test_targets, atol=1e-5)
    first_targets = pd.DatetimeIndex(prepared.test_target_timestamps[:, 0]).tz_localize("UTC")
    assert first_targets[0] == series.index[170]
    assert prepared.test_target_timestamps.shape == (28, 3)
    assert prepared.last_observed_timestamp == series.index[-1]
    # The first validation window's inputs come from the training part.
    x_first_val = prepared.x_scaler.inverse_transform(prepared.x_val[0, :, 0])
    np.testing.assert_allclose(x_first_val, values[128:140], atol=1e-5)


def test_minimum_is_exact_through_prepare(make_series):
    for lookback, horizon, v, t in [(24, 1, 0.15, 0.15), (6, 4, 0.2, 0.1), (48, 1, 0.1, 0.1)]:
        params = {
            "lookback_window": lookback,
            "forecast_horizon": horizon,
            "validation_ratio": v,
            "test_ratio": t,
        }
        minimum = minimum_points(lookback, horizon, v, t)
        prepared = prepare(make_series(minimum), **params)
        assert min(prepared.summary["windows"].values()) >= 1
        with pytest.raises(InsufficientData) as raised:
            prepare(make_series(minimum - 1), **params)
        assert f"need at least {minimum} regular points; found {minimum - 1}" in str(raised.value)
        assert raised.value.details["required"] == minimum
        assert raised.value.details["found"] == minimum - 1


def test_constant_series_scales_without_dividing_by_zero(make_series):
    prepared = prepare(make_series(100, values=np.full(100, 21.5)), **PARAMS)
    assert prepared.x_scaler.scale == 1.0
    assert not np.any(prepared.x_train)  # all zeros, all finite


def test_long_gap_windows_are_dropped_never_bridged(make_series):
    series = make_series(300)
    gappy = series.drop(series.index[100:110])  # 10 missing > 3
    prepared = prepare(gappy, **PARAMS)
    assert prepared.summary["long_gaps"] == 1 and prepared.summary["segments"] == 2
    gap_free = prepare(make_series(290), **PARAMS)
    assert len(prepared.x_train) == len(gap_free.x_train) - (12 + 3 - 1)


def test_short_gaps_are_interpolated_before_windowing(make_series):
    series = make_series(200)
    holes = series.drop(series.index[[50, 51, 120]])
    prepared = prepare(holes, **PARAMS)
    assert prepared.summary["interpolated_points"] == 3
    assert prepared.summary["windows"]["train"] == 126


def test_a_gap_that_empties_a_part_is_reported(make_series):
    series = make_series(200)
    # From point 150 on, 4 of every 10 points are missing: no 15 contiguous points in the test part.
    drop = [i for start in range(150, 200, 10) for i in range(start, start + 4)]
    with pytest.raises(InsufficientData, match="the test part has no complete window"):
        prepare(series.drop(series.index[drop]), **PARAMS)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([np.nan] * 50, "need at least 21 regular points; found 0"),
        ([1.0], "found 1"),
    ],
)
def test_degenerate_series_give_insufficient_data(make_series, values, message):
    with pytest.raises(InsufficientData, match=message):
        prepare(make_series(len(values), values=values), **PARAMS)


def test_duplicated_timestamps_are_merged(make_series):
    series = make_series(200)
    doubled = pd.concat([series, series + 1.0])
    prepared = prepare(doubled, **PARAMS)
    assert prepared.summary["duplicates_merged"] == 200
    np.testing.assert_allclose(prepared.train_values, series.to_numpy()[:140] + 0.5)


def test_non_float_values_are_rejected(make_series):
    series = make_series(200).astype(str)
    with pytest.raises(InvalidInput, match="must be real numbers"):
        prepare(series, **PARAMS)


def test_bad_parameters_are_rejected_before_any_work(make_series):
    with pytest.raises(InvalidInput, match="validation_ratio \\+ test_ratio"):
        prepare(make_series(200), **{**PARAMS, "validation_ratio": 0.5, "test_ratio": 0.5})
    with pytest.raises(InvalidInput, match="exceed the limit"):
        prepare(make_series(200), **PARAMS, max_window_values=100)


def test_latest_window_matches_the_training_grid(make_series):
    series = make_series(100, interval_seconds=600)
    window = latest_window(series, lookback_window=12, sampling_interval_seconds=600)
    np.testing.assert_array_equal(window.values, series.to_numpy()[-12:])
    assert window.last_timestamp == series.index[-1]
    targets = window.target_timestamps(3)
    assert list(targets) == [series.index[-1] + pd.Timedelta(minutes=10 * h) for h in (1, 2, 3)]


def test_latest_window_refuses_a_gap_longer_than_a_quarter_of_it_and_says_when_it_resumes(
    make_series,
):
    series = make_series(100, interval_seconds=600)
    gappy = series.drop(series.index[-9:-3])  # 6 missing points; 12 // 4 = 3 can be filled
    with pytest.raises(
        InsufficientData, match=r"gap of 6 missing points .* longer than the 3"
    ) as info:
        latest_window(gappy, lookback_window=12, sampling_interval_seconds=600)
    # The first point after the gap plus 11 more intervals: the first window without the gap.
    resumes = (series.index[-3] + pd.Timedelta(minutes=10 * 11)).isoformat()
    assert info.value.details["resumes_at"] == resumes
    assert f"forecasts resume from {resumes}" in info.value.message
    with pytest.raises(InvalidInput):
        latest_window(series, lookback_window=0, sampling_interval_seconds=600)


def test_latest_window_fills_a_short_gap_and_flags_the_filled_points(make_series):
    series = make_series(100, interval_seconds=600)
    gappy = series.drop(series.index[-6:-4])  # 2 missing points: linear, as in training
    window = latest_window(gappy, lookback_window=12, sampling_interval_seconds=600)
    assert window.filled_positions == (6, 7)
    observed = [i for i in range(12) if i not in (6, 7)]
    np.testing.assert_array_equal(window.values[observed], series.to_numpy()[-12:][observed])
    left, right = series.iloc[-7], series.iloc[-4]
    np.testing.assert_allclose(
        window.values[6:8], [left + (right - left) / 3, left + 2 * (right - left) / 3]
    )


def test_latest_window_fills_a_longer_gap_from_one_season_earlier():
    index = pd.date_range("2024-01-01", periods=300, freq="1h", tz="UTC")
    steps = np.arange(300)
    series = pd.Series(10 + 5 * np.sin(2 * np.pi * steps / 24) + 0.01 * steps, index=index)
    gappy = series.drop(series.index[-15:-5])  # 10 hours missing; a quarter of 48 is 12
    window = latest_window(
        gappy, lookback_window=48, sampling_interval_seconds=3_600, season_steps=24
    )
    assert window.filled_positions == tuple(range(33, 43))
    # The shape of the day before, moved to meet both ends: the trend is linear, so exact.
    np.testing.assert_allclose(window.values, series.to_numpy()[-48:], atol=1e-9)
    linear = latest_window(gappy, lookback_window=48, sampling_interval_seconds=3_600)
    assert np.abs(linear.values - series.to_numpy()[-48:]).max() > 1.0
    with pytest.raises(InsufficientData, match="more than 50%"):
        latest_window(
            series.iloc[::3], lookback_window=48, sampling_interval_seconds=3_600, season_steps=24
        )
