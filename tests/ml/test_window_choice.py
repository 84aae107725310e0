"""The lookback and last_n chosen from the data, and explicit values kept as given."""

from __future__ import annotations

import pytest

from chronos_core.ml.seasons import Season
from chronos_core.ml.window_choice import (
    ANCHOR_CYCLES,
    MAX_AUTO_LAST_N,
    MAX_AUTO_LOOKBACK,
    MIN_AUTO_LAST_N,
    NetworkInputs,
    choose_inputs,
    default_last_n,
    recent_steps,
)

HALF_HOUR = 1_800
DAY = Season("day", 48, 86_400, 0.9)
WEEK = Season("week", 336, 604_800, 0.7)
SPLIT = {"validation_ratio": 0.15, "test_ratio": 0.15}


def test_the_lookback_covers_the_longest_season_and_the_recent_part() -> None:
    inputs = choose_inputs([DAY, WEEK], forecast_horizon=48, points=20_000, **SPLIT)
    assert recent_steps(48, [DAY, WEEK]) == 96  # twice the horizon, at least one day
    assert inputs == NetworkInputs(
        lookback_window=ANCHOR_CYCLES * 336 + 96,
        anchor_season=336,
        recent_steps=96,
        lookback_chosen=True,
        season_cycles=ANCHOR_CYCLES,
        reference_seasons=(48,),
    )
    assert inputs.to_dict()["anchor"] == "seasonal_naive"
    assert NetworkInputs.from_dict(inputs.to_dict()) == inputs


def test_less_data_averages_fewer_seasons_then_falls_back_to_a_shorter_one() -> None:
    # 3 000 points: 70 % train = 2 100; three weeks (1 104 points) still leave 200 windows.
    three = choose_inputs([DAY, WEEK], forecast_horizon=48, points=3_000, **SPLIT)
    assert (three.anchor_season, three.season_cycles) == (336, 3)
    two = choose_inputs([DAY, WEEK], forecast_horizon=48, points=1_500, **SPLIT)
    assert (two.anchor_season, two.season_cycles, two.lookback_window) == (336, 2, 768)
    day = choose_inputs([DAY, WEEK], forecast_horizon=48, points=900, **SPLIT)
    assert (day.anchor_season, day.season_cycles, day.lookback_window) == (48, 3, 240)


def test_without_a_season_the_last_value_anchors_and_the_lookback_is_small() -> None:
    assert choose_inputs([], forecast_horizon=12, points=5_000, **SPLIT) == NetworkInputs(
        24, lookback_chosen=True
    )
    assert choose_inputs([], forecast_horizon=48, points=5_000, **SPLIT).lookback_window == 96
    huge = Season("year", 17_532, 31_557_600, 0.8)  # beyond the lookback cap: never the anchor
    chosen = choose_inputs([DAY, huge], forecast_horizon=48, points=100_000, **SPLIT)
    assert chosen.anchor_season == 48 and chosen.lookback_window <= MAX_AUTO_LOOKBACK


def test_an_explicit_lookback_is_always_honoured() -> None:
    assert choose_inputs(
        [DAY, WEEK], forecast_horizon=48, points=20_000, lookback_window=24, **SPLIT
    ) == (NetworkInputs(24))
    inputs = choose_inputs(
        [DAY, WEEK], forecast_horizon=48, points=20_000, lookback_window=400, **SPLIT
    )
    assert (inputs.lookback_window, inputs.anchor_season, inputs.season_cycles) == (400, 336, 1)
    assert inputs.recent_steps == 400 - 336 and not inputs.lookback_chosen
    inputs = choose_inputs([DAY], forecast_horizon=6, points=20_000, lookback_window=130, **SPLIT)
    assert (inputs.anchor_season, inputs.season_cycles, inputs.recent_steps) == (48, 2, 34)


@pytest.mark.parametrize(
    ("interval", "horizon", "expected"),
    [
        (HALF_HOUR, 48, 10 * 336),  # ten weeks
        (3_600, 24, 10 * 168),  # ten weeks
        (900, 4, 10 * 672),  # ten weeks
        (60, 60, 10 * 1_440),  # a week of minutes exceeds the lookback cap: ten days
        (86_400, 7, 10 * 365),  # ten years of days
        (604_800, 4, MIN_AUTO_LAST_N),  # ten years of weeks are 520 points: the floor
        (1, 1, MIN_AUTO_LAST_N),  # seconds: even an hour exceeds the cap on the window
    ],
)
def test_default_last_n_takes_ten_cycles_of_the_longest_usable_calendar_period(
    interval: int, horizon: int, expected: int
) -> None:
    assert default_last_n(interval, horizon, max_last_n=1_000_000) == min(expected, MAX_AUTO_LAST_N)


def test_default_last_n_bounds() -> None:
    assert default_last_n(None, 1, max_last_n=1_000_000) == MIN_AUTO_LAST_N
    assert default_last_n(HALF_HOUR, 48, max_last_n=500) == 500
    assert default_last_n(300, 12, max_last_n=1_000_000) == MAX_AUTO_LAST_N  # 10 weeks = 20 160


def test_long_gaps_in_the_real_series_can_make_a_shorter_anchor_necessary() -> None:
    def counts(lookback: int) -> tuple[int, int, int]:
        # A long gap leaves the validation part without a window once the lookback exceeds 800.
        return (5_000, 0 if lookback > 800 else 40, 40)

    inputs = choose_inputs(
        [DAY, WEEK], forecast_horizon=48, points=20_000, window_counts=counts, **SPLIT
    )
    assert (inputs.anchor_season, inputs.season_cycles, inputs.lookback_window) == (336, 2, 768)
