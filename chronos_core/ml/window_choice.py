"""How much history a model sees and trains on, chosen from the data when the user does not say.

Two choices, both documented in ``docs/training.md``:

- **The network's inputs** (:func:`choose_inputs`). With a detected season of ``m`` steps the
  network forecasts the residual over "the value one season earlier" (seasonal naive) and its
  recurrent layers read only the newest ``recent_steps`` points (:func:`recent_steps`), each with
  its difference from its own anchor value.
  The anchor is the mean over ``K`` seasons (:data:`ANCHOR_CYCLES`), so the window holds
  ``K * m + recent_steps`` points. Unset ``lookback_window``: the longest detected season (and
  the largest ``K``) that fits :data:`MAX_AUTO_LOOKBACK` and leaves at least
  :data:`MIN_TRAIN_WINDOWS` training windows is the anchor, and the lookback is exactly
  ``K * m + recent_steps``; without such a season, ``max(DEFAULT_LOOKBACK, 2 * horizon)``
  and the last observed value is the anchor. An explicit ``lookback_window`` is always used as
  given; the anchor is then the longest season it can hold (with at least
  :data:`MIN_RECENT_STEPS` recent points), averaged over as many seasons as fit, if any.
- **How many points to collect** (:func:`default_last_n`): :data:`SEASON_CYCLES` cycles of the
  longest calendar period (day, week, year) that the sampling interval allows within
  :data:`MAX_AUTO_LOOKBACK`, within ``[MIN_AUTO_LAST_N, MAX_AUTO_LAST_N]``. It is decided before
  collection from the interval of the newest points alone (the seasons are detected later, on
  the collected data).

Pure Python + NumPy: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chronos_core.ml.seasons import Season, calendar_candidates
from chronos_core.ml.windowing import split_sizes

#: Lookback without a usable season (today's default), raised to twice the horizon.
DEFAULT_LOOKBACK = 24
#: The longest lookback chosen from the data (a week at 5-minute intervals plus its recent part).
#: Inputs are float32, so each training window costs ``4 * (lookback + horizon)`` bytes.
MAX_AUTO_LOOKBACK = 2400
#: The recurrent layers read at most this many of the newest points (their cost grows with it).
MAX_RECENT_STEPS = 192
#: ... and at least this many when a season anchors the forecast.
MIN_RECENT_STEPS = 8
#: The anchor is the mean of the values 1..ANCHOR_CYCLES seasons before each target step
#: (fewer when the window cap or the data do not allow that many).
ANCHOR_CYCLES = 3
#: A season is used as the anchor only when the training part still yields this many windows.
MIN_TRAIN_WINDOWS = 200
#: The default ``last_n`` covers this many cycles of the longest calendar period.
SEASON_CYCLES = 10
MIN_AUTO_LAST_N = 1_000
MAX_AUTO_LAST_N = 20_000
#: Newest raw points read before collection to estimate the sampling interval.
PROBE_POINTS = 100


@dataclass(frozen=True)
class NetworkInputs:
    """What the network reads: ``lookback_window`` points; with ``anchor_season`` (steps) set,
    the forecast is the residual over seasonal naive at that season and the recurrent layers see
    the newest ``recent_steps`` points; without it, the residual over the last observed value."""

    lookback_window: int
    anchor_season: int | None = None
    recent_steps: int | None = None
    lookback_chosen: bool = False
    #: The anchor averages this many seasons (1: seasonal naive).
    season_cycles: int = 1
    #: Shorter seasons whose seasonal-naive forecasts the output layer also reads.
    reference_seasons: tuple[int, ...] = ()

    @property
    def anchor(self) -> str:
        return "last_value" if self.anchor_season is None else "seasonal_naive"

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookback_window": self.lookback_window,
            "lookback_chosen_from_data": self.lookback_chosen,
            "anchor": self.anchor,
            "anchor_season_steps": self.anchor_season,
            "season_cycles": self.season_cycles,
            "recent_steps": self.recent_steps,
            "reference_seasons": list(self.reference_seasons),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkInputs:
        def optional(name: str) -> int | None:
            value = data.get(name)
            return None if value is None else int(value)

        return cls(
            lookback_window=int(data["lookback_window"]),
            anchor_season=optional("anchor_season_steps"),
            recent_steps=optional("recent_steps"),
            season_cycles=int(data.get("season_cycles") or 1),
            lookback_chosen=bool(data.get("lookback_chosen_from_data", False)),
            reference_seasons=tuple(int(v) for v in data.get("reference_seasons", ())),
        )


def recent_steps(forecast_horizon: int, seasons: Sequence[Season]) -> int:
    """Points the recurrent layers read: twice the horizon, at least the shortest season,
    within ``[MIN_RECENT_STEPS, MAX_RECENT_STEPS]``."""
    shortest = min((season.steps for season in seasons), default=0)
    return max(MIN_RECENT_STEPS, min(MAX_RECENT_STEPS, max(2 * forecast_horizon, shortest)))


def _train_windows(
    points: int, lookback: int, horizon: int, validation_ratio: float, test_ratio: float
) -> int:
    train = split_sizes(points, horizon, validation_ratio, test_ratio).train
    return train - lookback - horizon + 1


def choose_inputs(
    seasons: Sequence[Season],
    *,
    forecast_horizon: int,
    points: int,
    validation_ratio: float,
    test_ratio: float,
    lookback_window: int | None = None,
    window_counts: Callable[[int], tuple[int, int, int]] | None = None,
) -> NetworkInputs:
    """The network's inputs for a series of ``points`` regular points with ``seasons`` (see the
    module docstring). ``lookback_window`` set: used as given.

    ``window_counts(lookback)`` (optional) gives the usable (train, validation, test) windows of
    the real series, long gaps considered; a season is then the anchor only when every part has
    a window and the training part :data:`MIN_TRAIN_WINDOWS`. Without it, the series is taken
    as gap-free."""
    longest_first = sorted(seasons, key=lambda season: season.steps, reverse=True)
    recent = recent_steps(forecast_horizon, seasons)
    if lookback_window is not None:
        for season in longest_first:
            cycles = min(ANCHOR_CYCLES, (lookback_window - MIN_RECENT_STEPS) // season.steps)
            if cycles >= 1:
                return NetworkInputs(
                    lookback_window,
                    season.steps,
                    min(recent, lookback_window - cycles * season.steps),
                    season_cycles=cycles,
                    reference_seasons=_shorter(seasons, season.steps),
                )
        return NetworkInputs(lookback_window)
    for season in longest_first:
        for cycles in range(ANCHOR_CYCLES, 0, -1):
            lookback = cycles * season.steps + recent
            if lookback > MAX_AUTO_LOOKBACK:
                continue
            if window_counts is None:
                train = _train_windows(
                    points, lookback, forecast_horizon, validation_ratio, test_ratio
                )
                validation = test = 1
            else:
                train, validation, test = window_counts(lookback)
            if train >= MIN_TRAIN_WINDOWS and validation > 0 and test > 0:
                return NetworkInputs(
                    lookback,
                    season.steps,
                    recent,
                    lookback_chosen=True,
                    season_cycles=cycles,
                    reference_seasons=_shorter(seasons, season.steps),
                )
    return NetworkInputs(smallest_lookback(forecast_horizon), lookback_chosen=True)


def _shorter(seasons: Sequence[Season], steps: int) -> tuple[int, ...]:
    return tuple(sorted(season.steps for season in seasons if season.steps < steps))


def smallest_lookback(forecast_horizon: int) -> int:
    """The lookback used for the "enough data?" check before collection when the lookback will
    be chosen from the data (the choice never goes below it unless the data is too short)."""
    return min(MAX_AUTO_LOOKBACK, max(DEFAULT_LOOKBACK, 2 * forecast_horizon))


def longest_calendar_steps(sampling_interval_seconds: int, forecast_horizon: int) -> int | None:
    """Steps of the longest calendar period (day, week, year) that is a whole number (within
    1 %) of at least 2 intervals and fits :data:`MAX_AUTO_LOOKBACK` with its recent part."""
    recent = max(MIN_RECENT_STEPS, min(MAX_RECENT_STEPS, 2 * forecast_horizon))
    fitting = [
        s
        for _, s in calendar_candidates(sampling_interval_seconds)
        if s + recent <= MAX_AUTO_LOOKBACK
    ]
    return fitting[-1] if fitting else None


def default_last_n(
    sampling_interval_seconds: int | None, forecast_horizon: int, *, max_last_n: int
) -> int:
    """Points to collect when ``last_n`` is unset (see the module docstring); ``None`` interval
    (fewer than two points to probe): :data:`MIN_AUTO_LAST_N`."""
    steps = (
        None
        if sampling_interval_seconds is None
        else longest_calendar_steps(sampling_interval_seconds, forecast_horizon)
    )
    wanted = MIN_AUTO_LAST_N if steps is None else SEASON_CYCLES * steps
    return max(1, min(max_last_n, MAX_AUTO_LAST_N, max(MIN_AUTO_LAST_N, wanted)))
