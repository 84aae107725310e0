"""Cleaning, sampling-interval detection and regularisation of raw series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chronos_core.errors import InsufficientData, InvalidInput
from chronos_core.ml.regular_grid import clean_series, detect_sampling_interval, regularize


def _series(stamps: list[str], values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)), dtype=float)


def test_regular_series_passes_through_unchanged(make_series):
    series = make_series(10, interval_seconds=60)
    regular = regularize(series)
    assert regular.sampling_interval_seconds == 60
    np.testing.assert_array_equal(regular.values, series.to_numpy())
    assert list(regular.timestamps) == list(series.index)
    assert regular.counts.to_dict() == {
        "points_in": 10,
        "non_finite_dropped": 0,
        "duplicates_merged": 0,
        "bucket_merges": 0,
        "observed_points": 10,
        "interpolated_points": 0,
        "grid_points": 10,
        "gap_points": 0,
        "long_gaps": 0,
        "segments": 1,
    }
    assert regular.last_observed_timestamp == series.index[-1]


def test_unsorted_duplicates_and_non_finite_are_cleaned():
    series = _series(
        [
            "2024-01-01T00:02:00Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:01:00Z",
            "2024-01-01T00:01:00Z",
            "2024-01-01T00:03:00Z",
            "2024-01-01T00:04:00Z",
        ],
        [3.0, 1.0, 2.0, 4.0, np.nan, np.inf],
    )
    clean = clean_series(series)
    assert clean.points_in == 6
    assert clean.non_finite_dropped == 2
    assert clean.duplicates_merged == 1
    np.testing.assert_array_equal(clean.values, [1.0, 3.0, 3.0])  # 00:01 is mean(2, 4)
    assert np.all(np.diff(clean.timestamps_ns) > 0)


def test_nat_timestamps_are_dropped_as_non_finite():
    index = pd.DatetimeIndex(
        [pd.Timestamp("2024-01-01", tz="UTC"), pd.NaT, pd.Timestamp("2024-01-02", tz="UTC")]
    )
    clean = clean_series(pd.Series([1.0, 2.0, 3.0], index=index))
    assert clean.non_finite_dropped == 1
    np.testing.assert_array_equal(clean.values, [1.0, 3.0])


def test_interval_is_the_median_spacing_in_whole_seconds():
    seconds = np.array([0, 60, 120, 185, 240, 900], dtype=np.int64)
    assert detect_sampling_interval(seconds * 1_000_000_000) == 60
    sub_second = np.arange(10, dtype=np.int64) * 200_000_000  # 5 Hz
    assert detect_sampling_interval(sub_second) == 1
    with pytest.raises(InsufficientData, match="at least 2 distinct timestamps, found 1"):
        detect_sampling_interval(np.array([5], dtype=np.int64))


def test_short_gaps_are_interpolated_linearly():
    stamps = ["2024-01-01T00:00Z", "2024-01-01T00:01Z", "2024-01-01T00:02Z", "2024-01-01T00:05Z"]
    regular = regularize(_series(stamps, [0.0, 1.0, 2.0, 5.0]), max_interpolated_gap=2)
    np.testing.assert_allclose(regular.values, [0, 1, 2, 3, 4, 5])
    assert regular.counts.interpolated_points == 2
    assert regular.counts.segments == 1
    assert np.all(np.diff(regular.timestamps_ns) == 60_000_000_000)


def test_long_gaps_split_segments_and_are_never_filled():
    values = np.arange(20, dtype=float)
    index = pd.date_range("2024-01-01", periods=20, freq="1min", tz="UTC")
    series = pd.Series(values, index=index).drop(index[8:12])  # 4 missing > 3
    regular = regularize(series, max_interpolated_gap=3)
    assert len(regular) == 16
    assert regular.counts.long_gaps == 1
    assert regular.counts.gap_points == 4
    assert regular.counts.segments == 2
    assert np.isfinite(regular.values).all()
    np.testing.assert_array_equal(regular.segment_ids, [0] * 8 + [1] * 8)


def test_huge_gap_costs_no_memory():
    early = pd.date_range("1990-01-01", periods=50, freq="1s", tz="UTC")
    late = pd.date_range("2024-01-01", periods=50, freq="1s", tz="UTC")
    series = pd.Series(np.ones(100), index=early.append(late))
    regular = regularize(series)
    assert len(regular) == 100
    assert regular.counts.long_gaps == 1
    assert regular.counts.gap_points > 1_000_000_000


def test_irregular_timestamps_are_bucketed_by_mean():
    stamps = [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:01:01Z",
        "2024-01-01T00:01:20Z",  # same 60 s bucket as 00:01:01
        "2024-01-01T00:02:00Z",
        "2024-01-01T00:03:00Z",
        "2024-01-01T00:04:00Z",
    ]
    regular = regularize(_series(stamps, [0.0, 1.0, 3.0, 2.0, 3.0, 4.0]))
    assert regular.sampling_interval_seconds == 60
    assert regular.counts.bucket_merges == 1
    np.testing.assert_allclose(regular.values, [0, 2, 2, 3, 4])
    # The grid is anchored at the last observation.
    assert regular.timestamps[-1] == regular.last_observed_timestamp


def test_non_utc_timezones_are_converted(make_series):
    utc = make_series(30, interval_seconds=3600)
    madrid = utc.tz_convert("Europe/Madrid")
    np.testing.assert_array_equal(regularize(madrid).timestamps_ns, regularize(utc).timestamps_ns)


def test_integer_and_nullable_dtypes_are_accepted():
    index = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC")
    assert len(regularize(pd.Series([1, 2, 3, 4, 5], index=index))) == 5
    nullable = pd.Series([1.0, None, 3.0, 4.0, 5.0], index=index, dtype="Float64")
    regular = regularize(nullable)
    assert regular.counts.non_finite_dropped == 1
    assert regular.counts.interpolated_points == 1


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ([1.0, 2.0], "expected a pandas Series"),
        (pd.DataFrame({"a": [1.0]}), "expected a pandas Series"),
        (pd.Series([1.0, 2.0]), "index must be a DatetimeIndex"),
        (
            pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2, freq="1h")),
            "timezone-aware",
        ),
        (
            pd.Series(
                ["1.0", "2.0"], index=pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")
            ),
            "must be real numbers",
        ),
        (
            pd.Series(
                [True, False], index=pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")
            ),
            "must be real numbers",
        ),
        (
            pd.Series([1j, 2j], index=pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")),
            "must be real numbers",
        ),
    ],
)
def test_bad_input_is_rejected_clearly(series, message):
    with pytest.raises(InvalidInput, match=message):
        regularize(series)


def test_all_nan_and_empty_series_have_no_usable_data(make_series):
    with pytest.raises(InsufficientData, match="all 5 points are missing or non-finite"):
        regularize(make_series(5, values=[np.nan] * 5))
    with pytest.raises(InsufficientData, match="the series is empty"):
        regularize(make_series(0))


def test_single_point_needs_an_explicit_interval(make_series):
    single = make_series(1)
    with pytest.raises(InsufficientData, match="found 1"):
        regularize(single)
    regular = regularize(single, sampling_interval_seconds=60)
    assert len(regular) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampling_interval_seconds": 0},
        {"sampling_interval_seconds": 1.5},
        {"sampling_interval_seconds": True},
        {"max_interpolated_gap": -1},
        {"max_interpolated_gap": 10**9},
    ],
)
def test_bad_parameters_are_rejected(make_series, kwargs):
    with pytest.raises(InvalidInput):
        regularize(make_series(10), **kwargs)
