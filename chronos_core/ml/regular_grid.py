"""From a raw sensor series to regular points: clean, detect the sampling interval, regularise.

Input is a ``pd.Series`` of numbers on a timezone-aware ``DatetimeIndex`` (any order, duplicate
timestamps, NaN and inf allowed). The result is a :class:`RegularSeries`: points on a grid of
fixed spacing anchored at the last observation, each the mean of the raw values in its bucket
``[t - interval/2, t + interval/2)``. Gaps of at most ``max_interpolated_gap`` missing grid points
are filled by linear interpolation; longer gaps split the series into *segments* and are never
bridged (no window may cross them). Long gaps are not materialised, so a series with a years-long
hole costs no memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from chronos_core.domain.validation import check_int
from chronos_core.errors import InsufficientData, InvalidInput

NANOS_PER_SECOND = 1_000_000_000
DEFAULT_MAX_INTERPOLATED_GAP = 3
MAX_INTERPOLATED_GAP_LIMIT = 10_000


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class CleanSeries:
    """Finite values on strictly increasing UTC timestamps (epoch nanoseconds)."""

    timestamps_ns: NDArray[np.int64]
    values: NDArray[np.float64]
    points_in: int
    non_finite_dropped: int
    duplicates_merged: int


@dataclass(frozen=True)
class GridCounts:
    """What regularisation did, for the training summary (all JSON-safe integers)."""

    points_in: int
    non_finite_dropped: int
    duplicates_merged: int
    bucket_merges: int
    observed_points: int
    interpolated_points: int
    grid_points: int
    gap_points: int
    long_gaps: int
    segments: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class RegularSeries:
    """Regular points of one series; long gaps separate segments (``segment_ids`` increase)."""

    values: NDArray[np.float64]
    timestamps_ns: NDArray[np.int64]
    segment_ids: NDArray[np.int64]
    sampling_interval_seconds: int
    max_interpolated_gap: int
    last_observed_timestamp: pd.Timestamp
    counts: GridCounts

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def timestamps(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.timestamps_ns, unit="ns", utc=True))


def clean_series(series: Any) -> CleanSeries:
    """Validate ``series``, drop non-finite values, merge duplicate timestamps (mean), sort.

    Accepts real numbers (float or integer dtypes, nullable or not); anything else — strings,
    objects, booleans, complex numbers, datetimes — raises ``InvalidInput``. Timestamps must be
    timezone-aware; they are converted to UTC. NaT timestamps count as non-finite.
    """
    if not isinstance(series, pd.Series):
        raise InvalidInput(
            "expected a pandas Series of numbers indexed by timestamps, "
            f"got {type(series).__name__}"
        )
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InvalidInput(
            f"the series index must be a DatetimeIndex of timestamps, got {type(index).__name__}"
        )
    if index.tz is None:
        raise InvalidInput(
            "the series timestamps must be timezone-aware (UTC); got naive timestamps"
        )
    dtype = series.dtype
    numeric = pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
    if not numeric or pd.api.types.is_bool_dtype(dtype):
        raise InvalidInput(f"the series values must be real numbers (float); got dtype {dtype}")

    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        stamps = index.tz_convert("UTC").as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError) as error:
        raise InvalidInput(f"timestamps out of the supported range (1677-2262): {error}") from None
    valid_time = ~np.asarray(stamps.isna())
    timestamps = stamps.asi8
    keep = np.isfinite(values) & valid_time
    points_in = int(values.size)
    values, timestamps = values[keep], timestamps[keep]
    non_finite = points_in - int(values.size)

    order = np.argsort(timestamps, kind="stable")
    timestamps, values = timestamps[order], values[order]
    unique, inverse = np.unique(timestamps, return_inverse=True)
    if unique.size != timestamps.size:
        sums = np.bincount(inverse, weights=values)
        counts = np.bincount(inverse)
        values = sums / counts
    return CleanSeries(
        timestamps_ns=unique.astype(np.int64),
        values=values.astype(np.float64),
        points_in=points_in,
        non_finite_dropped=non_finite,
        duplicates_merged=int(timestamps.size - unique.size),
    )


def detect_sampling_interval(timestamps_ns: NDArray[np.int64]) -> int:
    """Median spacing of strictly increasing timestamps, in whole seconds (at least 1)."""
    if timestamps_ns.size < 2:
        raise InsufficientData(
            "cannot detect the sampling interval: needs at least 2 distinct timestamps, "
            f"found {timestamps_ns.size}",
            details={"required": 2, "found": int(timestamps_ns.size)},
        )
    spacing = np.diff(timestamps_ns)
    median = float(np.median(spacing[spacing > 0])) / NANOS_PER_SECOND
    return max(1, round(median))


def regularize(
    series: Any,
    *,
    sampling_interval_seconds: int | None = None,
    max_interpolated_gap: int = DEFAULT_MAX_INTERPOLATED_GAP,
) -> RegularSeries:
    """Clean ``series`` and put it on a regular grid (see the module docstring).

    ``sampling_interval_seconds`` forces the grid spacing (for example the interval a model was
    trained with); ``None`` detects it as the median spacing. Raises ``InvalidInput`` for bad
    input and ``InsufficientData`` when no finite point remains.
    """
    max_gap = check_int(max_interpolated_gap, "max_interpolated_gap", 0, MAX_INTERPOLATED_GAP_LIMIT)
    clean = clean_series(series)
    if clean.values.size == 0:
        raise InsufficientData(
            f"no usable data: all {clean.points_in} points are missing or non-finite"
            if clean.points_in
            else "no usable data: the series is empty",
            details={"required": 1, "found": 0},
        )
    if sampling_interval_seconds is None:
        interval = detect_sampling_interval(clean.timestamps_ns)
    else:
        interval = check_int(sampling_interval_seconds, "sampling_interval_seconds")
    step = interval * NANOS_PER_SECOND

    last = int(clean.timestamps_ns[-1])
    # Bucket k holds [last + k*step - step/2, last + k*step + step/2); k <= 0.
    bucket = (clean.timestamps_ns - last + step // 2) // step
    buckets, inverse = np.unique(bucket, return_inverse=True)
    observed = np.bincount(inverse, weights=clean.values) / np.bincount(inverse)

    missing = np.diff(buckets) - 1
    long_gap = missing > max_gap
    first = np.concatenate(([0], np.flatnonzero(long_gap) + 1))
    final = np.concatenate((np.flatnonzero(long_gap), [buckets.size - 1]))
    start_k, end_k = buckets[first], buckets[final]
    lengths = end_k - start_k + 1
    total = int(lengths.sum())
    segment_ids = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid_k = np.repeat(start_k, lengths) + offsets

    values = np.interp(grid_k.astype(np.float64), buckets.astype(np.float64), observed)
    values[np.searchsorted(grid_k, buckets)] = observed  # observed points stay exact

    counts = GridCounts(
        points_in=clean.points_in,
        non_finite_dropped=clean.non_finite_dropped,
        duplicates_merged=clean.duplicates_merged,
        bucket_merges=int(clean.values.size - buckets.size),
        observed_points=int(buckets.size),
        interpolated_points=total - int(buckets.size),
        grid_points=total,
        gap_points=int(missing[long_gap].sum()),
        long_gaps=int(np.count_nonzero(long_gap)),
        segments=int(lengths.size),
    )
    return RegularSeries(
        values=values,
        timestamps_ns=(last + grid_k * step).astype(np.int64),
        segment_ids=segment_ids,
        sampling_interval_seconds=interval,
        max_interpolated_gap=max_gap,
        last_observed_timestamp=pd.Timestamp(last, unit="ns", tz="UTC"),
        counts=counts,
    )
