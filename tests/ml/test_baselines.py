"""The season choice and the full-history baselines."""

from __future__ import annotations

import numpy as np
import pytest

from chronos_core.ml.baselines import choose_season


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


# ---------------------------------------------------------------------------- full history


def _history(values, interval=3600, start_ns=0, gap_after=None, gap_points=0):
    from chronos_core.ml.baselines import History

    values = np.asarray(values, dtype=float)
    steps = np.arange(values.size, dtype=np.int64)
    segments = np.zeros(values.size, dtype=np.int64)
    if gap_after is not None:
        steps[gap_after:] += gap_points
        segments[gap_after:] = 1
    return History(values, segments, start_ns + steps * interval * 10**9, interval)


def test_seasonal_naive_from_history_reads_beyond_any_lookback():
    from chronos_core.ml.baselines import (
        history_naive,
        history_seasonal_naive,
        seasonal_periods,
    )

    values = np.arange(24 * 9, dtype=float)  # hourly, nine days
    history = _history(values)
    periods, skipped = seasonal_periods(3600, [24, 60])
    assert [(p.name, p.steps) for p in periods] == [
        ("seasonal_naive_day", 24),
        ("seasonal_naive_60", 60),
        ("seasonal_naive_week", 168),
    ]
    assert skipped == {}
    origins = np.array([24 * 8, 24 * 8 + 5])
    np.testing.assert_array_equal(history_naive(history, origins, 2), [[191, 191], [196, 196]])
    day, _, week = (history_seasonal_naive(history, origins, 30, p) for p in periods)
    # h=1..24 one day back, h=25..30 two days back.
    np.testing.assert_array_equal(day[0, :24], values[origins[0] - 24 : origins[0]])
    np.testing.assert_array_equal(day[0, 24:], values[origins[0] - 48 + 24 : origins[0] - 18])
    np.testing.assert_array_equal(week[1], values[origins[1] - 168 : origins[1] - 138])


def test_seasonal_naive_is_skipped_with_a_reason_or_crosses_gaps():
    from chronos_core.ml.baselines import (
        BaselineUnavailable,
        SeasonalPeriod,
        history_seasonal_naive,
        seasonal_periods,
    )

    week = SeasonalPeriod("seasonal_naive_week", 168, "one week, 168 points")
    with pytest.raises(BaselineUnavailable, match="the first test origin has 100 points"):
        history_seasonal_naive(_history(np.ones(200)), np.array([100]), 3, week)
    # A 10-hour gap after point 50: the value one day before lies across it, by timestamp.
    values = np.arange(100, dtype=float)
    history = _history(values, gap_after=50, gap_points=10)
    day = SeasonalPeriod("seasonal_naive_day", 24, "one day, 24 points")
    forecast = history_seasonal_naive(history, np.array([90, 70]), 2, day)
    # Positions from 50 on sit 10 hours later. Origin 90 (hour 100): targets at hours 100,
    # 101, one day earlier at hours 76, 77 = positions 66, 67, across the gap. Origin 70
    # (hour 80): hours 56, 57 fall in the gap, so two days earlier: hours 32, 33.
    np.testing.assert_array_equal(forecast, [[66.0, 67.0], [32.0, 33.0]])
    _, skipped = seasonal_periods(7 * 86_400, [])
    assert "single sampling interval" in skipped["seasonal_naive_week"]
    _, skipped = seasonal_periods(7000, [])
    assert "does not divide one day" in skipped["seasonal_naive_day"]


def test_statistical_baseline_is_ets_without_seasons_and_says_so():
    from chronos_core.ml.baselines import statistical_forecast

    rng = np.random.default_rng(0)
    values = 10 + np.cumsum(rng.normal(0, 0.1, 400))
    result = statistical_forecast(_history(values), np.array([300, 350]), 3, [])
    assert result.name == "ets" and result.forecasts is not None
    assert result.forecasts.shape == (2, 3) and np.isfinite(result.forecasts).all()
    assert "no seasonal period was detected" in result.skipped["mstl"]
    short = statistical_forecast(_history(values), np.array([5]), 3, [])
    assert short.forecasts is None and "at least 10 contiguous points" in short.skipped["ets"]
