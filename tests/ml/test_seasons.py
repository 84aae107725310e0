"""Season detection on generated series with known periods, on noise, and across gaps."""

from __future__ import annotations

import numpy as np
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml.seasons import Season, dense_grid, detect_seasons, longest

HALF_HOUR = 1800


def _timestamps(n: int, interval: int) -> np.ndarray:
    return (np.arange(n, dtype=np.int64) * interval * 1_000_000_000).astype(np.int64)


def _load_like(n: int, seed: int = 0) -> np.ndarray:
    """Half-hourly: a daily cycle and lower weekends, plus noise."""
    i = np.arange(n)
    rng = np.random.default_rng(seed)
    weekend = ((i // 48) % 7) >= 5
    return 10 + 3 * np.sin(2 * np.pi * i / 48) - 1.5 * weekend + 0.3 * rng.standard_normal(n)


def names(seasons: list[Season]) -> list[str]:
    return [season.name for season in seasons]


def test_daily_and_weekly_cycles_are_found() -> None:
    n = 48 * 7 * 6
    seasons = detect_seasons(_load_like(n), _timestamps(n, HALF_HOUR), HALF_HOUR)
    assert [(s.name, s.steps, s.seconds) for s in seasons] == [
        ("day", 48, 86_400),
        ("week", 336, 604_800),
    ]
    assert longest(seasons) == seasons[-1]


def test_a_pure_daily_cycle_does_not_add_a_week() -> None:
    n = 24 * 60
    rng = np.random.default_rng(1)
    values = np.sin(2 * np.pi * np.arange(n) / 24) + 0.3 * rng.standard_normal(n)
    assert names(detect_seasons(values, _timestamps(n, 3600), 3600)) == ["day"]


@pytest.mark.parametrize("seed", range(5))
def test_noise_and_random_walks_have_no_season(seed: int) -> None:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(5000)
    assert detect_seasons(noise, _timestamps(5000, 600), 600) == []
    assert detect_seasons(np.cumsum(noise), _timestamps(5000, 600), 600) == []


def test_a_yearly_cycle_in_weekly_data_is_found_despite_missing_points() -> None:
    rng = np.random.default_rng(2)
    weeks = np.arange(52 * 20)
    values = 315 + 0.03 * weeks + 3 * np.sin(2 * np.pi * weeks / 52.18)
    values = values + 0.3 * rng.standard_normal(weeks.size)
    keep = rng.random(weeks.size) > 0.05
    week = 7 * 86_400
    seasons = detect_seasons(values[keep], _timestamps(weeks.size, week)[keep], week)
    assert [(s.name, s.steps) for s in seasons] == [("year", 52)]


def test_a_non_calendar_period_is_found_from_the_autocorrelation() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    tide = np.sin(2 * np.pi * np.arange(n) / 74.5) + 0.2 * rng.standard_normal(n)
    seasons = detect_seasons(tide, _timestamps(n, 600), 600)
    assert [s.steps for s in seasons] in ([74], [75])
    assert seasons[0].name == f"{seasons[0].steps} points"


def test_too_short_a_series_finds_no_weekly_season() -> None:
    n = 48 * 7 * 2  # two weeks: fewer than three cycles
    assert names(detect_seasons(_load_like(n), _timestamps(n, HALF_HOUR), HALF_HOUR)) == ["day"]


def test_long_gaps_are_missing_values_not_data() -> None:
    n = 48 * 7 * 6
    values = _load_like(n)
    stamps = _timestamps(n, HALF_HOUR)
    keep = np.ones(n, dtype=bool)
    keep[1000:1400] = False  # a long gap: no points there on the regular grid
    grid = dense_grid(values[keep], stamps[keep], HALF_HOUR)
    assert grid.size == n and int(np.isnan(grid).sum()) == 400
    assert names(detect_seasons(values[keep], stamps[keep], HALF_HOUR)) == ["day", "week"]


def test_bad_interval_is_refused() -> None:
    with pytest.raises(InvalidInput, match="sampling_interval_seconds"):
        detect_seasons([1.0, 2.0], [0, 1], 0)


def test_seasons_round_trip_as_dicts() -> None:
    season = Season(name="day", steps=48, seconds=86_400, strength=0.9)
    assert Season.from_dict(season.to_dict()) == season
