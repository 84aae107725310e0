"""Which seasonal periods a series really has, found from its sampling interval and its
autocorrelation.

Candidates are the calendar periods that are (within 1 %) a whole number of sampling intervals —
hour, day, week, year — plus the strongest autocorrelation peak that is none of them (a 12.4-hour
tide, a machine cycle). A candidate is kept when the data spans at least :data:`MIN_CYCLES` of
it, "the value one period ago" errs at most half as much as "the value half a period ago"
(:data:`MAX_HALF_PERIOD_RATIO`: a season repeats, a wandering level only drifts further), and the
autocorrelation at its lag, after removing the trend with a moving average over exactly one
period, is at least :data:`MIN_STRENGTH`. A period that is a
multiple of a shorter kept one (a week over a day) is kept only when "the same time one week ago"
clearly predicts better than "the same time yesterday" (:data:`MAX_ERROR_RATIO`). White noise and
random walks have none.

Long gaps (regular-grid segments) are left as missing values; they neither count as data nor
create false correlation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from chronos_core.domain.validation import check_int
from chronos_core.errors import InvalidInput

HOUR_SECONDS = 3_600
DAY_SECONDS = 24 * HOUR_SECONDS
WEEK_SECONDS = 7 * DAY_SECONDS
YEAR_SECONDS = 365 * DAY_SECONDS + DAY_SECONDS // 4

CALENDAR_PERIODS: tuple[tuple[str, int], ...] = (
    ("hour", HOUR_SECONDS),
    ("day", DAY_SECONDS),
    ("week", WEEK_SECONDS),
    ("year", YEAR_SECONDS),
)
#: A candidate must be covered this many times by the data.
MIN_CYCLES = 3.0
#: A period found from the autocorrelation alone (not a calendar one) must be covered this often.
MIN_PEAK_CYCLES = 4.0
#: Minimum autocorrelation of the detrended series at the season's lag.
MIN_STRENGTH = 0.3
#: "One period ago" must err at most this fraction as much as "half a period ago".
MAX_HALF_PERIOD_RATIO = 0.5
#: A multiple of a kept shorter season is kept only when "one such period ago" errs at most this
#: fraction as much as "one shorter period ago" (mean squared difference).
MAX_ERROR_RATIO = 0.9
#: A calendar period may differ this much (relative) from a whole number of intervals.
CALENDAR_TOLERANCE = 0.01
#: Longest grid (points, gaps included) analysed; older points are ignored beyond it.
MAX_ANALYSED_POINTS = 2_000_000


@dataclass(frozen=True)
class Season:
    """A seasonal period: ``steps`` sampling intervals (``seconds`` long), its ``name`` ("day",
    "week", ... or "N points") and ``strength``, the detrended autocorrelation at that lag."""

    name: str
    steps: int
    seconds: int
    strength: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Season:
        return cls(
            name=str(data["name"]),
            steps=int(data["steps"]),
            seconds=int(data["seconds"]),
            strength=float(data["strength"]),
        )


def dense_grid(
    values: ArrayLike,
    timestamps_ns: ArrayLike,
    sampling_interval_seconds: int,
    *,
    max_points: int = MAX_ANALYSED_POINTS,
) -> NDArray[np.float64]:
    """The regular points as one array on the full grid, NaN where a long gap left no point.

    Only the newest ``max_points`` grid positions are kept.
    """
    y = np.asarray(values, dtype=np.float64)
    t = np.asarray(timestamps_ns, dtype=np.int64)
    if y.shape != t.shape or y.ndim != 1:
        raise InvalidInput("values and timestamps must be 1-D arrays of the same length")
    if y.size == 0:
        return y.copy()
    step = int(sampling_interval_seconds) * 1_000_000_000
    positions = (t - t[-1]) // step
    keep = positions > -max_points
    positions = positions[keep] - positions[keep][0]
    grid = np.full(int(positions[-1]) + 1, np.nan)
    grid[positions] = y[keep]
    return grid


def autocorrelation(grid: NDArray[np.float64], lag: int) -> float:
    """Pearson correlation of the grid with itself ``lag`` steps later, over the pairs where both
    values exist; NaN when fewer than 3 pairs or a constant side."""
    if lag < 1 or lag >= grid.size:
        return float("nan")
    a, b = grid[:-lag], grid[lag:]
    both = np.isfinite(a) & np.isfinite(b)
    if int(both.sum()) < 3:
        return float("nan")
    a, b = a[both], b[both]
    a = a - a.mean()
    b = b - b.mean()
    denominator = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    if denominator == 0.0:
        return float("nan")
    return float(np.dot(a, b) / denominator)


def _detrended(grid: NDArray[np.float64], steps: int) -> NDArray[np.float64]:
    """The grid minus its centred moving average over one period (which holds no season)."""
    trend = (
        pd.Series(grid)
        .rolling(window=steps, center=True, min_periods=max(1, steps // 2))
        .mean()
        .to_numpy()
    )
    return grid - trend


def mean_squared_difference(grid: NDArray[np.float64], lag: int) -> float:
    """Mean of ``(y[t] - y[t - lag])**2`` over the pairs where both exist (NaN if none): the
    error of "the value ``lag`` steps ago" as a forecast."""
    if lag < 1 or lag >= grid.size:
        return float("nan")
    difference = grid[lag:] - grid[:-lag]
    difference = difference[np.isfinite(difference)]
    return float(np.mean(difference**2)) if difference.size else float("nan")


def _strength(grid: NDArray[np.float64], steps: int) -> float:
    """The detrended autocorrelation at ``steps``, or 0 unless the value one period ago is a
    much better guess than the value half a period ago (:data:`MAX_HALF_PERIOD_RATIO`): a season
    repeats, while a wandering level drifts further the longer the lag."""
    full = mean_squared_difference(grid, steps)
    half = mean_squared_difference(grid, max(1, steps // 2))
    if not (np.isfinite(full) and np.isfinite(half)) or full > MAX_HALF_PERIOD_RATIO * half:
        return 0.0
    value = autocorrelation(_detrended(grid, steps), steps)
    return value if np.isfinite(value) else 0.0


def calendar_candidates(sampling_interval_seconds: int) -> list[tuple[str, int]]:
    """The calendar periods that are (within :data:`CALENDAR_TOLERANCE`) a whole number of at
    least 2 intervals, as (name, steps), shortest first."""
    found = []
    for name, seconds in CALENDAR_PERIODS:
        steps = round(seconds / sampling_interval_seconds)
        if steps < 2:
            continue
        if abs(steps * sampling_interval_seconds - seconds) <= CALENDAR_TOLERANCE * seconds:
            found.append((name, steps))
    return found


def _peak_candidate(grid: NDArray[np.float64], max_lag: int) -> int | None:
    """The lag of the first autocorrelation peak after the autocorrelation first drops below
    zero (up to ``max_lag``), or None when that peak is weak. Computed by FFT over the
    gap-masked, linearly detrended grid; a slowly wandering series (a random walk) never drops
    below zero soon enough."""
    if max_lag < 3:
        return None
    mask = np.isfinite(grid)
    if int(mask.sum()) < 8:
        return None
    index = np.arange(grid.size, dtype=np.float64)
    slope, intercept = np.polyfit(index[mask], grid[mask], 1)
    x = np.where(mask, grid - (slope * index + intercept), 0.0)
    m = mask.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(2 * x.size)))
    fx, fm = np.fft.rfft(x, size), np.fft.rfft(m, size)
    products = np.fft.irfft(fx * np.conj(fx), size)[: max_lag + 1]
    pairs = np.fft.irfft(fm * np.conj(fm), size)[: max_lag + 1]
    covariance = np.where(pairs > 8, products / np.maximum(pairs, 1.0), 0.0)
    if covariance[0] <= 0:
        return None
    acf = covariance / covariance[0]
    below = np.flatnonzero(acf < 0)
    if below.size == 0 or below[0] + 1 >= max_lag:
        return None
    lags = np.arange(int(below[0]) + 1, max_lag)
    peaks = lags[(acf[lags] > 0) & (acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1])]
    if peaks.size == 0:
        return None
    best = int(peaks[0])
    # The first local maximum may sit on a noisy shoulder: take the top of its hump.
    hump_end = np.flatnonzero(acf[best:] < 0)
    stop = best + (int(hump_end[0]) if hump_end.size else acf.size - best)
    best += int(np.argmax(acf[best:stop]))
    return best if acf[best] >= MIN_STRENGTH else None


def detect_seasons(
    values: ArrayLike,
    timestamps_ns: ArrayLike,
    sampling_interval_seconds: int,
    *,
    min_strength: float = MIN_STRENGTH,
) -> list[Season]:
    """The useful seasonal periods of a regular series, shortest first (empty: none found).

    ``values``/``timestamps_ns`` are the regular grid points (as :class:`RegularSeries` holds
    them: long gaps simply have no points). See the module docstring for the rule.
    """
    interval = check_int(sampling_interval_seconds, "sampling_interval_seconds")
    grid = dense_grid(values, timestamps_ns, interval)
    observed = int(np.isfinite(grid).sum())
    if observed < 8:
        return []
    span = grid.size

    candidates: dict[int, str] = {}
    for name, steps in calendar_candidates(interval):
        if span >= MIN_CYCLES * steps:
            candidates.setdefault(steps, name)
    peak = _peak_candidate(grid, int(span / MIN_PEAK_CYCLES))
    if peak is not None and not any(
        abs(peak - steps) <= max(1, round(0.02 * steps)) for steps in candidates
    ):
        candidates[peak] = f"{peak} points"

    strengths = {steps: _strength(grid, steps) for steps in candidates}
    kept: list[Season] = []
    for steps in sorted(candidates):
        strength = strengths[steps]
        if strength < min_strength:
            continue
        shorter = [s for s in kept if steps % s.steps == 0 or _near_multiple(steps, s.steps)]
        error = mean_squared_difference(grid, steps)
        if shorter and error > MAX_ERROR_RATIO * min(
            mean_squared_difference(grid, s.steps) for s in shorter
        ):
            continue
        kept.append(
            Season(
                name=candidates[steps],
                steps=steps,
                seconds=steps * interval,
                strength=round(strength, 4),
            )
        )
    return kept


def _near_multiple(longer: int, shorter: int) -> bool:
    ratio = longer / shorter
    return ratio >= 2 and abs(ratio - round(ratio)) <= 0.02 * ratio


def longest(seasons: list[Season]) -> Season | None:
    return max(seasons, key=lambda season: season.steps) if seasons else None
