"""Chronological split sizes, ``minimum_points`` tightness and sliding windows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml.windowing import gather_windows, minimum_points, split_sizes, window_starts

COMBOS = [
    (24, 1, 0.15, 0.15),
    (24, 6, 0.15, 0.15),
    (24, 24, 0.15, 0.15),
    (48, 1, 0.1, 0.1),
    (1, 1, 0.5, 0.49),
    (5, 7, 0.3, 0.2),
    (10, 3, 0.01, 0.01),
    (168, 24, 0.2, 0.1),
    (3, 2, 0.29, 0.29),
]


def _windows_per_part(n: int, lookback: int, horizon: int, v: float, t: float) -> list[int]:
    sizes = split_sizes(n, horizon, v, t)
    values = np.zeros(n)
    segments = np.zeros(n, dtype=np.int64)
    bounds = [(0, sizes.train), (sizes.validation_start, sizes.test_start), (sizes.test_start, n)]
    return [
        int(window_starts(values, segments, lookback, horizon, low, high).size)
        for low, high in bounds
    ]


def test_split_sizes_follow_the_ratios_for_large_series():
    sizes = split_sizes(1000, 1, 0.15, 0.15)
    assert (sizes.train, sizes.validation, sizes.test) == (700, 150, 150)
    assert sizes.total == 1000
    # 0.29 * 100 is 28.999999999999996 in floating point; the split still says 29.
    assert split_sizes(100, 1, 0.29, 0.29).test == 29


def test_small_evaluation_parts_are_raised_to_one_horizon():
    sizes = split_sizes(40, 6, 0.1, 0.1)
    assert sizes.test == 6 and sizes.validation == 6 and sizes.train == 28


@pytest.mark.parametrize(("lookback", "horizon", "v", "t"), COMBOS)
def test_minimum_points_is_tight_and_monotone(lookback, horizon, v, t):
    minimum = minimum_points(lookback, horizon, v, t)
    assert all(count >= 1 for count in _windows_per_part(minimum, lookback, horizon, v, t))
    assert min(_windows_per_part(minimum - 1, lookback, horizon, v, t)) == 0
    for n in range(minimum, minimum + 300):
        assert split_sizes(n, horizon, v, t).train >= lookback + horizon, n


def test_minimum_points_on_random_parameters():
    rng = np.random.default_rng(11)
    for _ in range(200):
        lookback = int(rng.integers(1, 400))
        horizon = int(rng.integers(1, 100))
        v, t = (float(x) for x in rng.uniform(0.001, 0.6, size=2))
        if v + t >= 0.98:
            continue
        minimum = minimum_points(lookback, horizon, v, t)
        assert min(_windows_per_part(minimum, lookback, horizon, v, t)) >= 1
        assert min(_windows_per_part(minimum - 1, lookback, horizon, v, t)) == 0
        trains = [split_sizes(n, horizon, v, t).train for n in range(minimum - 1, minimum + 100)]
        assert all(b >= a for a, b in itertools.pairwise(trains))


def test_minimum_points_is_never_below_one_window_per_part():
    assert minimum_points(24, 24, 0.15, 0.15) == 24 + 3 * 24
    assert minimum_points(24, 1, 0.15, 0.15) == 35


@pytest.mark.parametrize(
    "args",
    [
        (0, 1, 0.1, 0.1),
        (1, 0, 0.1, 0.1),
        (1.5, 1, 0.1, 0.1),
        (True, 1, 0.1, 0.1),
        (1, 1, 0.0, 0.1),
        (1, 1, 0.1, 1.0),
        (1, 1, 0.5, 0.5),
        (1, 1, "0.1", 0.1),
    ],
)
def test_minimum_points_rejects_bad_parameters(args):
    with pytest.raises(InvalidInput):
        minimum_points(*args)


def test_windows_never_cross_segments_or_non_finite_values():
    values = np.arange(12, dtype=float)
    values[9] = np.nan
    segments = np.array([0] * 5 + [1] * 7)
    starts = window_starts(values, segments, 2, 1, 0, 12)
    # segment 0 (0..4): targets 2, 3, 4; segment 1 (5..11): targets 7, 8 (9 is NaN, 10/11 see it)
    np.testing.assert_array_equal(starts, [2, 3, 4, 7, 8])


def test_window_targets_stay_inside_their_part():
    values = np.arange(20, dtype=float)
    segments = np.zeros(20, dtype=np.int64)
    starts = window_starts(values, segments, 4, 3, 10, 15)
    np.testing.assert_array_equal(starts, [10, 11, 12])  # last target of 12 is 14 < 15
    x, y = gather_windows(values, starts, 4, 3)
    np.testing.assert_array_equal(x[0], [6, 7, 8, 9])  # inputs from before the part
    np.testing.assert_array_equal(y[-1], [12, 13, 14])
    assert x.flags.c_contiguous and y.flags.c_contiguous
    assert window_starts(values, segments, 4, 3, 10, 12).size == 0
