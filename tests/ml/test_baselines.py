"""Naive and seasonal-naive forecasts and the season choice."""

from __future__ import annotations

import numpy as np
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml.baselines import choose_season, naive_forecast, seasonal_naive_forecast


def test_naive_repeats_the_last_input():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(naive_forecast(x, 2), [[3.0, 3.0], [6.0, 6.0]])
    np.testing.assert_array_equal(naive_forecast(x[..., np.newaxis], 1), [[3.0], [6.0]])


def test_seasonal_naive_takes_the_value_one_season_earlier():
    x = np.arange(6, dtype=float)[np.newaxis]  # y_{T-5} .. y_T = 0 .. 5
    # m=3: h=1..3 -> y_{T-2}, y_{T-1}, y_T; h=4..5 wrap to the same season again.
    np.testing.assert_array_equal(seasonal_naive_forecast(x, 5, 3), [[3, 4, 5, 3, 4]])
    np.testing.assert_array_equal(seasonal_naive_forecast(x, 2, 1), naive_forecast(x, 2))
    np.testing.assert_array_equal(seasonal_naive_forecast(x, 6, 6), [[0, 1, 2, 3, 4, 5]])
    with pytest.raises(InvalidInput, match="season must be an integer in \\[1, lookback=6\\]"):
        seasonal_naive_forecast(x, 2, 7)


@pytest.mark.parametrize(
    ("interval", "lookback", "steps", "reason"),
    [
        (1800, 48, 48, None),
        (3600, 24, 24, None),
        (1800, 47, None, "shorter than one day (48 points)"),
        (7, 100_000, None, "does not divide one day"),
        (86_400, 7, 7, None),
        (3 * 86_400, 100, None, "does not divide one week"),
        (5 * 86_400, 100, None, "too long"),
    ],
)
def test_season_choice(interval, lookback, steps, reason):
    choice = choose_season(interval, lookback)
    assert choice.steps == steps
    if reason is None:
        assert choice.reason is None
    else:
        assert reason in (choice.reason or "")


def test_bad_inputs_are_rejected():
    with pytest.raises(InvalidInput):
        naive_forecast(np.ones(3), 1)
    with pytest.raises(InvalidInput):
        naive_forecast(np.ones((2, 3)), 0)
