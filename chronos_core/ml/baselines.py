"""Reference forecasters, scored on the same test origins as the network.

Every baseline reads the **full regular history** before each origin (not the network's input
window), so a season longer than the lookback never removes one:

- ``naive`` (persistence): ``ŷ_{T+h} = y_T``, the last value before the origin repeated;
- ``seasonal_naive_<period>``: ``ŷ_{T+h} = y_{T+h-m·⌈h/m⌉}``, the value one season ``m``
  earlier (``m`` whole seasons back for steps beyond one season). Computed for the calendar
  day and week (``seasonal_naive_day``, ``seasonal_naive_week``) whenever the sampling interval
  divides them, and for every other detected season (``seasonal_naive_<steps>``); skipped, with
  the reason, when one full period of history does not precede every origin;
- one statistical model from statsforecast: ``mstl`` (MSTL decomposition at the detected
  seasons, AutoETS on the trend) when the series has seasons, ``ets`` (AutoETS) otherwise.
  It is fitted once on the history before the first origin and applied at each origin with
  ``forward`` (same parameters, state updated with the data up to that origin only).

:func:`choose_season` picks the calendar season of the MASE scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chronos_core.domain.validation import check_int
from chronos_core.errors import InvalidInput

DAY_SECONDS = 86_400
WEEK_SECONDS = 7 * DAY_SECONDS
NANOS_PER_SECOND = 1_000_000_000

NAIVE = "naive"
SEASONAL_PREFIX = "seasonal_naive_"
MSTL = "mstl"
ETS = "ets"
#: A seasonal-naive value missing in a long gap is taken this many further seasons back at most.
MAX_EXTRA_SEASONS = 2
#: The statistical model sees at most this many seasons (of the longest one) before an origin...
STAT_CONTEXT_SEASONS = 3
#: ...and at least / at most this many points (bounds its cost per origin).
STAT_MIN_CONTEXT = 200
STAT_MAX_CONTEXT = 4_000
#: AutoETS needs a few points to choose a model.
STAT_MIN_POINTS = 10


@dataclass(frozen=True)
class SeasonChoice:
    """The season length in steps, or ``None`` with the reason seasonal naive is skipped."""

    steps: int | None
    period_name: str | None = None
    reason: str | None = None


def choose_season(sampling_interval_seconds: int, lookback_window: int) -> SeasonChoice:
    """One day for intervals up to 12 h, one week for intervals up to 3.5 days, else none.

    The period must be a whole number of intervals and fit inside ``lookback_window`` points.
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


# ---------------------------------------------------------------------------- full history


@dataclass(frozen=True, eq=False)  # holds arrays
class History:
    """Every regular point of a series: values (original units), segment ids (a long gap
    starts a new segment), UTC epoch-ns timestamps on one grid of ``sampling_interval_seconds``."""

    values: NDArray[np.float64]
    segment_ids: NDArray[np.int64]
    timestamps_ns: NDArray[np.int64]
    sampling_interval_seconds: int

    def __post_init__(self) -> None:
        if not (self.values.shape == self.segment_ids.shape == self.timestamps_ns.shape):
            raise InvalidInput("history values, segment ids and timestamps must align")
        if self.sampling_interval_seconds < 1:
            raise InvalidInput("sampling_interval_seconds must be >= 1")

    @property
    def step_ns(self) -> int:
        return self.sampling_interval_seconds * NANOS_PER_SECOND

    def check_origins(self, origins: ArrayLike) -> NDArray[np.int64]:
        """Origins are positions of a first target; each needs one point before it."""
        positions = np.asarray(origins, dtype=np.int64).ravel()
        if positions.size == 0:
            raise InvalidInput("no origins to forecast from")
        if positions.min() < 1 or positions.max() > self.values.size:
            raise InvalidInput("origins must lie in [1, len(history)]")
        return positions


@dataclass(frozen=True)
class SeasonalPeriod:
    """A seasonal-naive candidate: its baseline name, period in steps and what to call it."""

    name: str
    steps: int
    description: str


def seasonal_periods(
    sampling_interval_seconds: int, detected_steps: Sequence[int] = ()
) -> tuple[list[SeasonalPeriod], dict[str, str]]:
    """The union of the calendar day and week and the detected seasons (by steps), and the
    calendar periods that cannot be used, with the reason."""
    periods: dict[int, SeasonalPeriod] = {}
    skipped: dict[str, str] = {}
    interval = int(sampling_interval_seconds)
    for label, seconds in (("day", DAY_SECONDS), ("week", WEEK_SECONDS)):
        name = f"{SEASONAL_PREFIX}{label}"
        if seconds % interval:
            skipped[name] = f"the sampling interval ({interval} s) does not divide one {label}"
        elif seconds // interval < 2:
            skipped[name] = (
                f"one {label} is a single sampling interval, so it is the naive forecast"
            )
        else:
            steps = seconds // interval
            periods[steps] = SeasonalPeriod(name, steps, f"one {label}, {steps} points")
    for steps in sorted({int(s) for s in detected_steps}):
        if steps >= 2 and steps not in periods:
            periods[steps] = SeasonalPeriod(
                f"{SEASONAL_PREFIX}{steps}", steps, f"one detected season of {steps} points"
            )
    return sorted(periods.values(), key=lambda p: p.steps), skipped


def history_naive(history: History, origins: ArrayLike, horizon: int) -> NDArray[np.float64]:
    """Persistence from the full history: the last value before each origin, ``(n, horizon)``."""
    check_int(horizon, "horizon")
    positions = history.check_origins(origins)
    return np.repeat(history.values[positions - 1][:, np.newaxis], horizon, axis=1)


class BaselineUnavailable(InvalidInput):
    """A baseline cannot be computed on these origins (the message says why)."""


def history_seasonal_naive(
    history: History, origins: ArrayLike, horizon: int, period: SeasonalPeriod
) -> NDArray[np.float64]:
    """The value one season before each target, looked up by timestamp in the full history
    (so it works across long gaps); a value lost in a gap is taken up to
    ``MAX_EXTRA_SEASONS`` seasons further back. Raises :class:`BaselineUnavailable`."""
    check_int(horizon, "horizon")
    positions = history.check_origins(origins)
    m = period.steps
    step = history.step_ns
    stamps = history.timestamps_ns
    available = (stamps[positions[0] - 1] - stamps[0]) // step + 1
    if available < m:
        raise BaselineUnavailable(
            f"needs one full period ({period.description}) of history before each test origin; "
            f"the first test origin has {int(available)} points before it"
        )
    h = np.arange(1, horizon + 1, dtype=np.int64)
    target = stamps[positions - 1][:, np.newaxis] + step * h[np.newaxis, :]
    seasons_back = (h - 1) // m + 1
    result = np.full(target.shape, np.nan)
    missing = np.ones(target.shape, dtype=bool)
    for extra in range(MAX_EXTRA_SEASONS + 1):
        source = target - step * m * (seasons_back + extra)[np.newaxis, :]
        index = np.clip(np.searchsorted(stamps, source), 0, stamps.size - 1)
        found = missing & (stamps[index] == source) & np.isfinite(history.values[index])
        result[found] = history.values[index[found]]
        missing &= ~found
        if not missing.any():
            return result
    bad = int(missing.any(axis=1).sum())
    raise BaselineUnavailable(
        f"the history has no value {period.description} before some targets of {bad} of "
        f"{positions.size} test origins (long gaps)"
    )


@dataclass
class StatisticalResult:
    """The statistical baseline's name and forecasts (``None`` if it could not run), the
    seasons it used and why the other candidate (or itself) was skipped."""

    name: str
    forecasts: NDArray[np.float64] | None
    seasons: list[int] = field(default_factory=list)
    context_points: int = 0
    skipped: dict[str, str] = field(default_factory=dict)


def _segment_starts(
    segment_ids: NDArray[np.int64], positions: NDArray[np.int64]
) -> NDArray[np.int64]:
    return np.searchsorted(segment_ids, segment_ids[positions - 1], side="left").astype(np.int64)


def statistical_forecast(
    history: History, origins: ArrayLike, horizon: int, season_steps: Sequence[int] = ()
) -> StatisticalResult:
    """MSTL at the seasons that fit twice into the history before every origin (AutoETS on
    its trend), else AutoETS; fitted before the first origin, applied with ``forward``."""
    check_int(horizon, "horizon")
    positions = history.check_origins(origins)
    seasons = sorted({int(s) for s in season_steps if int(s) >= 2})
    longest = max(seasons) if seasons else 0
    context = min(STAT_MAX_CONTEXT, max(STAT_MIN_CONTEXT, STAT_CONTEXT_SEASONS * longest))
    begins = np.maximum(_segment_starts(history.segment_ids, positions), positions - context)
    shortest = int((positions - begins).min())
    skipped: dict[str, str] = {}
    usable = [s for s in seasons if 2 * s < shortest]
    if not seasons:
        skipped[MSTL] = "no seasonal period was detected in the series; ETS is used instead"
    elif not usable:
        skipped[MSTL] = (
            f"the contiguous history before some test origin ({shortest} points) holds fewer "
            f"than two periods of every detected season ({', '.join(map(str, seasons))} "
            "points); ETS is used instead"
        )
    name = MSTL if usable else ETS
    if shortest < STAT_MIN_POINTS:
        skipped[name] = (
            f"needs at least {STAT_MIN_POINTS} contiguous points before each test origin; "
            f"some origin has {shortest}"
        )
        return StatisticalResult(name, None, usable, context, skipped)
    try:
        forecasts = _run_statistical(history.values, positions, begins, horizon, usable)
    except Exception as error:  # a numerical failure of the library must not end the job
        skipped[name] = f"statsforecast failed: {type(error).__name__}: {error}"
        return StatisticalResult(name, None, usable, context, skipped)
    if not np.isfinite(forecasts).all():
        skipped[name] = "statsforecast produced non-finite forecasts"
        return StatisticalResult(name, None, usable, context, skipped)
    return StatisticalResult(name, forecasts, usable, context, skipped)


def _run_statistical(
    values: NDArray[np.float64],
    positions: NDArray[np.int64],
    begins: NDArray[np.int64],
    horizon: int,
    seasons: list[int],
) -> NDArray[np.float64]:
    from statsforecast.models import MSTL as MSTLModel  # lazy: ~2 s import
    from statsforecast.models import AutoETS

    model = (
        MSTLModel(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))
        if seasons
        else AutoETS(model="ZZZ", season_length=1)
    )
    contexts = [_finite_tail(values[b:p]) for b, p in zip(begins, positions, strict=True)]
    model.fit(contexts[0])
    out = np.empty((positions.size, horizon))
    for row, context in enumerate(contexts):
        out[row] = np.asarray(model.forward(y=context, h=horizon)["mean"], dtype=np.float64)
    return out


def _finite_tail(values: NDArray[np.float64]) -> NDArray[np.float64]:
    bad = np.flatnonzero(~np.isfinite(values))
    tail = values[bad[-1] + 1 :] if bad.size else values
    return np.ascontiguousarray(tail, dtype=np.float64)


def baseline_label(name: str) -> str:
    """What to call a baseline in a sentence."""
    if name == NAIVE:
        return "naive (repeat the last value)"
    if name == f"{SEASONAL_PREFIX}day":
        return "seasonal naive (same time the day before)"
    if name == f"{SEASONAL_PREFIX}week":
        return "seasonal naive (same time the week before)"
    if name.startswith(SEASONAL_PREFIX):
        return f"seasonal naive ({name.removeprefix(SEASONAL_PREFIX)} points earlier)"
    if name == MSTL:
        return "MSTL (statsforecast)"
    if name == ETS:
        return "ETS (statsforecast AutoETS)"
    if name == "seasonal_naive":  # jobs trained before the full-history baselines
        return "seasonal naive"
    return name
