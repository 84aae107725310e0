"""Reference forecasts computed on the model's own test windows.

- naive (persistence): ``ŷ_{T+h} = y_T`` — the last input value repeated over the horizon;
- seasonal naive: ``ŷ_{T+h} = y_{T+h-m(⌊(h-1)/m⌋+1)}`` — the value one season earlier, with the
  season ``m`` in steps (one day for sub-daily data, one week for daily data) and only when the
  lookback window holds a full season.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chronos_core.errors import InvalidInput

DAY_SECONDS = 86_400
WEEK_SECONDS = 7 * DAY_SECONDS


@dataclass(frozen=True)
class SeasonChoice:
    """The season length in steps, or ``None`` with the reason seasonal naive is skipped."""

    steps: int | None
    period_name: str | None = None
    reason: str | None = None


def choose_season(sampling_interval_seconds: int, lookback_window: int) -> SeasonChoice:
    """One day for intervals up to 12 h, one week for intervals up to 3.5 days, else none.

    The period must be a whole number of intervals and fit inside the lookback window.
    """
    if sampling_interval_seconds < 1 or lookback_window < 1:
        raise InvalidInput("sampling_interval_seconds and lookback_window must be >= 1")
    if 2 * sampling_interval_seconds <= DAY_SECONDS:
        period, name = DAY_SECONDS, "day"
    elif 2 * sampling_interval_seconds <= WEEK_SECONDS:
        period, name = WEEK_SECONDS, "week"
    else:
        return SeasonChoice(
            steps=None,
            reason=f"the sampling interval ({sampling_interval_seconds} s) is too long for a "
            "daily or weekly season",
        )
    if period % sampling_interval_seconds:
        return SeasonChoice(
            steps=None,
            period_name=name,
            reason=f"the sampling interval ({sampling_interval_seconds} s) does not divide "
            f"one {name}",
        )
    steps = period // sampling_interval_seconds
    if steps > lookback_window:
        return SeasonChoice(
            steps=None,
            period_name=name,
            reason=f"the lookback window ({lookback_window} points) is shorter than one {name} "
            f"({steps} points)",
        )
    return SeasonChoice(steps=steps, period_name=name)


def _inputs(inputs: ArrayLike, horizon: int) -> NDArray[np.float64]:
    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2 or x.shape[1] == 0:
        raise InvalidInput(f"baseline inputs must be (windows, lookback), got shape {x.shape}")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise InvalidInput(f"horizon must be an integer >= 1, got {horizon!r}")
    return x


def naive_forecast(inputs: ArrayLike, horizon: int) -> NDArray[np.float64]:
    """Persistence: ``(windows, horizon)`` copies of each window's last input value."""
    x = _inputs(inputs, horizon)
    return np.repeat(x[:, -1:], horizon, axis=1)


def seasonal_naive_forecast(inputs: ArrayLike, horizon: int, season: int) -> NDArray[np.float64]:
    """Each step takes the value one (or more) whole seasons earlier from the input window."""
    x = _inputs(inputs, horizon)
    lookback = x.shape[1]
    if (
        isinstance(season, bool)
        or not isinstance(season, (int, np.integer))
        or not 1 <= season <= lookback
    ):
        raise InvalidInput(f"season must be an integer in [1, lookback={lookback}], got {season!r}")
    steps = np.arange(1, horizon + 1)
    # Position of y_{T+h-m(⌊(h-1)/m⌋+1)} in the window, whose last input y_T sits at lookback-1.
    source = lookback - 1 + steps - season * ((steps - 1) // season + 1)
    return x[:, source]
