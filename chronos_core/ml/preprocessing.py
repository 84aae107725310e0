"""Turn a raw series into scaled training/validation/test windows (:func:`prepare`) and the
latest input window for a forecast (:func:`latest_window`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from chronos_core.domain.validation import check_int
from chronos_core.errors import InsufficientData, InvalidInput
from chronos_core.ml.regular_grid import (
    DEFAULT_MAX_INTERPOLATED_GAP,
    NANOS_PER_SECOND,
    RegularSeries,
    regularize,
)
from chronos_core.ml.scalers import StandardScaler
from chronos_core.ml.seasons import dense_grid
from chronos_core.ml.windowing import (
    SplitSizes,
    check_window_parameters,
    gather_windows,
    minimum_points,
    split_sizes,
    window_starts,
)

# 2**29 float32 values = 2 GiB of windows: beyond that, refuse clearly instead of exhausting memory.
DEFAULT_MAX_WINDOW_VALUES = 1 << 29

_PARTS = ("train", "validation", "test")


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class PreparedData:
    """Everything training and evaluation need, scaled and windowed.

    ``x_*`` are float32 ``(n, lookback_window, 1)`` in scaled units; ``y_*`` are float32
    ``(n, forecast_horizon)`` in scaled units. ``test_inputs`` / ``test_targets`` are the same
    test windows in original units (float64, ``(n_test, lookback)`` and ``(n_test, horizon)``),
    and ``test_target_timestamps`` their UTC timestamps (``datetime64[ns]``, ``(n_test, horizon)``).
    ``train_values`` / ``train_segment_ids`` are the regular training points in original units
    (for in-sample MASE scales).

    ``series_values`` / ``series_segment_ids`` / ``series_timestamps_ns`` are every regular point
    of the series (original units, float64; segment ids; UTC epoch nanoseconds) and
    ``test_origin_positions`` the index into them of each test window's first target, so the
    baselines can read the full history before each origin, not only the network's input window.
    """

    x_train: NDArray[np.float32]
    y_train: NDArray[np.float32]
    x_val: NDArray[np.float32]
    y_val: NDArray[np.float32]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.float32]
    x_scaler: StandardScaler
    y_scaler: StandardScaler
    lookback_window: int
    forecast_horizon: int
    sampling_interval_seconds: int
    test_inputs: NDArray[np.float64]
    test_targets: NDArray[np.float64]
    test_target_timestamps: NDArray[np.datetime64]
    train_values: NDArray[np.float64]
    train_segment_ids: NDArray[np.int64]
    last_observed_timestamp: pd.Timestamp
    summary: dict[str, Any]
    series_values: NDArray[np.float64]
    series_segment_ids: NDArray[np.int64]
    series_timestamps_ns: NDArray[np.int64]
    test_origin_positions: NDArray[np.int64]


def prepare(
    series: pd.Series,
    *,
    lookback_window: int,
    forecast_horizon: int,
    validation_ratio: float,
    test_ratio: float,
    max_interpolated_gap: int = DEFAULT_MAX_INTERPOLATED_GAP,
    sampling_interval_seconds: int | None = None,
    max_window_values: int = DEFAULT_MAX_WINDOW_VALUES,
) -> PreparedData:
    """Regularise ``series``, split it chronologically, fit scalers on the training part only and
    cut direct multi-step windows.

    Raises ``InvalidInput`` for bad input or parameters and ``InsufficientData`` (with
    ``details={"required": ..., "found": ...}``) when a part would get no window.
    """
    check_window_parameters(lookback_window, forecast_horizon, validation_ratio, test_ratio)
    required = minimum_points(lookback_window, forecast_horizon, validation_ratio, test_ratio)
    try:
        regular = regularize(
            series,
            sampling_interval_seconds=sampling_interval_seconds,
            max_interpolated_gap=max_interpolated_gap,
        )
    except InsufficientData as error:
        found = int(error.details.get("found", 0))
        raise InsufficientData(
            f"{_need(lookback_window, forecast_horizon, validation_ratio, test_ratio)}; found "
            f"{found} ({error.message})",
            details={"required": required, "found": found},
        ) from None
    return prepare_regular(
        regular,
        lookback_window=lookback_window,
        forecast_horizon=forecast_horizon,
        validation_ratio=validation_ratio,
        test_ratio=test_ratio,
        max_window_values=max_window_values,
    )


def count_windows(
    regular: RegularSeries,
    lookback_window: int,
    forecast_horizon: int,
    validation_ratio: float,
    test_ratio: float,
) -> tuple[int, int, int]:
    """Usable (train, validation, test) windows of ``regular`` for these window sizes (windows
    never cross a long gap); zeros when the series is too short."""
    sizes, starts = _part_starts(
        regular, lookback_window, forecast_horizon, validation_ratio, test_ratio
    )
    if sizes.train < 1:
        return (0, 0, 0)
    return (starts["train"].size, starts["validation"].size, starts["test"].size)


def _part_starts(
    regular: RegularSeries, lookback: int, horizon: int, validation_ratio: float, test_ratio: float
) -> tuple[SplitSizes, dict[str, NDArray[np.int64]]]:
    """The split of ``regular`` and the first-target positions of each part's windows."""
    n = len(regular)
    sizes = split_sizes(n, horizon, validation_ratio, test_ratio)
    bounds = {
        "train": (0, sizes.train),
        "validation": (sizes.validation_start, sizes.test_start),
        "test": (sizes.test_start, n),
    }
    starts = {
        part: window_starts(regular.values, regular.segment_ids, lookback, horizon, low, high)
        for part, (low, high) in bounds.items()
    }
    return sizes, starts


def _need(lookback: int, horizon: int, validation_ratio: float, test_ratio: float) -> str:
    required = minimum_points(lookback, horizon, validation_ratio, test_ratio)
    return (
        f"not enough data: lookback_window {lookback} and forecast_horizon "
        f"{horizon} with validation_ratio {validation_ratio} and test_ratio "
        f"{test_ratio} need at least {required} regular points"
    )


def prepare_regular(
    regular: RegularSeries,
    *,
    lookback_window: int,
    forecast_horizon: int,
    validation_ratio: float,
    test_ratio: float,
    max_window_values: int = DEFAULT_MAX_WINDOW_VALUES,
) -> PreparedData:
    """:func:`prepare` for a series already on its regular grid."""
    check_window_parameters(lookback_window, forecast_horizon, validation_ratio, test_ratio)
    required = minimum_points(lookback_window, forecast_horizon, validation_ratio, test_ratio)
    need = _need(lookback_window, forecast_horizon, validation_ratio, test_ratio)
    n = len(regular)
    if n < required:
        raise InsufficientData(
            f"{need}; found {n} ({regular.counts.points_in} points received, sampling interval "
            f"{regular.sampling_interval_seconds} s)",
            details={"required": required, "found": n, **regular.counts.to_dict()},
        )

    sizes, starts = _part_starts(
        regular, lookback_window, forecast_horizon, validation_ratio, test_ratio
    )
    for part in _PARTS:
        if starts[part].size == 0:
            raise InsufficientData(
                f"not enough contiguous data: the {part} part has no complete window of "
                f"{lookback_window} + {forecast_horizon} points without a gap longer than "
                f"{regular.max_interpolated_gap} missing points ({regular.counts.long_gaps} such "
                f"gaps, {regular.counts.segments} contiguous segments)",
                details={"part": part, **regular.counts.to_dict()},
            )
    windows = sum(int(s.size) for s in starts.values())
    if windows * (lookback_window + forecast_horizon) > max_window_values:
        raise InvalidInput(
            f"too much data for one training run: {windows} windows of "
            f"{lookback_window} + {forecast_horizon} points exceed the limit of "
            f"{max_window_values} values; reduce lookback_window, forecast_horizon or the number "
            "of points"
        )

    train_values = regular.values[: sizes.train]
    x_scaler = StandardScaler.fit(train_values)
    y_scaler = StandardScaler.fit(train_values)
    x_scaled = x_scaler.transform(regular.values).astype(np.float32)
    y_scaled = y_scaler.transform(regular.values).astype(np.float32)

    def scaled(part: str) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        # Inputs from the x scaling and targets from the y scaling, each gathered once (not
        # gather_windows twice, which would also copy the windows it throws away).
        x = sliding_window_view(x_scaled, lookback_window)[starts[part] - lookback_window]
        y = sliding_window_view(y_scaled, forecast_horizon)[starts[part]]
        return x[..., np.newaxis], y

    x_train, y_train = scaled("train")
    x_val, y_val = scaled("validation")
    x_test, y_test = scaled("test")
    test_inputs, test_targets = gather_windows(
        regular.values, starts["test"], lookback_window, forecast_horizon
    )
    step = regular.sampling_interval_seconds * NANOS_PER_SECOND
    target_ns = regular.timestamps_ns[starts["test"]][:, np.newaxis] + step * np.arange(
        forecast_horizon, dtype=np.int64
    )

    summary = {
        **regular.counts.to_dict(),
        "sampling_interval_seconds": regular.sampling_interval_seconds,
        "max_interpolated_gap": regular.max_interpolated_gap,
        "first_timestamp": _iso(int(regular.timestamps_ns[0])),
        "last_timestamp": _iso(int(regular.timestamps_ns[-1])),
        "minimum_points": required,
        "split_points": {"train": sizes.train, "validation": sizes.validation, "test": sizes.test},
        "windows": {part: int(starts[part].size) for part in _PARTS},
        "lookback_window": lookback_window,
        "forecast_horizon": forecast_horizon,
        "validation_ratio": float(validation_ratio),
        "test_ratio": float(test_ratio),
    }
    return PreparedData(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        x_scaler=x_scaler,
        y_scaler=y_scaler,
        lookback_window=lookback_window,
        forecast_horizon=forecast_horizon,
        sampling_interval_seconds=regular.sampling_interval_seconds,
        test_inputs=test_inputs,
        test_targets=test_targets,
        test_target_timestamps=target_ns.astype("datetime64[ns]"),
        train_values=train_values.copy(),
        train_segment_ids=regular.segment_ids[: sizes.train].copy(),
        last_observed_timestamp=regular.last_observed_timestamp,
        summary=summary,
        series_values=np.asarray(regular.values, dtype=np.float64).copy(),
        series_segment_ids=np.asarray(regular.segment_ids, dtype=np.int64).copy(),
        series_timestamps_ns=np.asarray(regular.timestamps_ns, dtype=np.int64).copy(),
        test_origin_positions=np.asarray(starts["test"], dtype=np.int64).copy(),
    )


#: A forecast window may fill missing points only when they are at most this share of it.
MAX_FILLED_FRACTION = 0.5


def default_max_filled_gap(lookback_window: int) -> int:
    """The longest run of missing points a forecast window may fill: a quarter of the lookback
    (at least the training's interpolation bound)."""
    return max(DEFAULT_MAX_INTERPOLATED_GAP, lookback_window // 4)


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class ForecastWindow:
    """The latest ``lookback_window`` regular points (original units) and where they end.

    ``filled_positions`` are the indices (0 = oldest) of the values that were not observed but
    filled (see :func:`latest_window`)."""

    values: NDArray[np.float64]
    last_timestamp: pd.Timestamp
    sampling_interval_seconds: int
    filled_positions: tuple[int, ...] = ()

    def target_timestamps(self, forecast_horizon: int) -> pd.DatetimeIndex:
        """UTC timestamps of the ``forecast_horizon`` points after the window."""
        step = pd.Timedelta(seconds=self.sampling_interval_seconds)
        return pd.DatetimeIndex(
            [self.last_timestamp + step * (h + 1) for h in range(forecast_horizon)]
        )


def latest_window(
    series: pd.Series,
    *,
    lookback_window: int,
    sampling_interval_seconds: int,
    max_interpolated_gap: int = DEFAULT_MAX_INTERPOLATED_GAP,
    max_filled_gap: int | None = None,
    season_steps: int | None = None,
) -> ForecastWindow:
    """The input window for a forecast, on the training grid, with short outages filled.

    ``sampling_interval_seconds`` is the interval the model was trained with. Points are the
    bucket means of the observations, exactly like the training data. A run of missing points
    inside the window is filled when it is at most ``max_filled_gap`` long (default:
    :func:`default_max_filled_gap`) and all filled points together are at most
    :data:`MAX_FILLED_FRACTION` of the window:

    - up to ``max_interpolated_gap`` missing points (the training's bound): linear interpolation,
      as in training;
    - longer runs: the values one ``season_steps`` earlier (when given and observed), shifted so
      that the fill meets the observed points on both sides; otherwise linear interpolation.

    The window's filled positions are returned in :attr:`ForecastWindow.filled_positions`.
    Raises ``InsufficientData`` when fewer than ``lookback_window`` points end at the last
    observation, or when a longer run must be crossed; its message and details say from when a
    forecast will be possible again (``resumes_at``, as points keep arriving).
    """
    check_int(lookback_window, "lookback_window")
    max_fill = default_max_filled_gap(lookback_window) if max_filled_gap is None else max_filled_gap
    check_int(max_fill, "max_filled_gap", 0)
    # Every missing grid point is a gap here (0): the fill below decides what to bridge.
    regular: RegularSeries = regularize(
        series, sampling_interval_seconds=sampling_interval_seconds, max_interpolated_gap=0
    )
    interval = regular.sampling_interval_seconds
    grid = dense_grid(regular.values, regular.timestamps_ns, interval)
    step_ns = interval * NANOS_PER_SECOND
    last_ns = int(regular.timestamps_ns[-1])
    observed = np.isfinite(grid)
    if grid.size < lookback_window:
        raise InsufficientData(
            f"not enough recent data to forecast: the model needs the last {lookback_window} "
            f"points at {interval} s spacing; found {int(observed.sum())} points up to "
            f"{regular.last_observed_timestamp.isoformat()}",
            details={"required": lookback_window, "found": int(observed.sum())},
        )
    start = grid.size - lookback_window
    filled = grid.copy()
    runs = _missing_runs(observed)
    # The grid starts at an observed point, so every run has observed points on both sides.
    too_long = [(a, b) for a, b in runs if b > start and b - a > max_fill]
    if too_long:
        a, b = too_long[-1]
        resumes = _iso(last_ns + (b + lookback_window - grid.size) * step_ns)
        raise InsufficientData(
            f"cannot forecast yet: the last {lookback_window} points at {interval} s spacing "
            f"cross a gap of {b - a} missing points from "
            f"{_iso(last_ns - (grid.size - 1 - a) * step_ns)}, longer than the {max_fill} that "
            f"can be filled; forecasts resume from {resumes} if points keep arriving",
            details={
                "required": lookback_window,
                "gap_points": b - a,
                "max_filled_gap": max_fill,
                "resumes_at": resumes,
            },
        )
    window_runs = [(a, b) for a, b in runs if b > start]
    missing = sum(min(b, grid.size) - max(a, start) for a, b in window_runs)
    if missing > MAX_FILLED_FRACTION * lookback_window:
        raise InsufficientData(
            f"cannot forecast: {missing} of the last {lookback_window} points at {interval} s "
            f"spacing are missing, more than {MAX_FILLED_FRACTION:.0%} of them",
            details={"required": lookback_window, "missing": missing},
        )
    for a, b in window_runs:
        filled[a:b] = _fill_run(grid, a, b, max_interpolated_gap, season_steps)
    positions = tuple(int(i - start) for a, b in window_runs for i in range(max(a, start), b))
    return ForecastWindow(
        values=filled[start:].copy(),
        last_timestamp=regular.last_observed_timestamp,
        sampling_interval_seconds=interval,
        filled_positions=positions,
    )


def _missing_runs(observed: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[(first, end)]`` of each run of missing grid points (``end`` exclusive)."""
    edges = np.diff(np.concatenate(([1], observed.astype(np.int8), [1])))
    return list(
        zip(
            np.flatnonzero(edges == -1).tolist(),
            np.flatnonzero(edges == 1).tolist(),
            strict=True,
        )
    )


def _fill_run(
    grid: NDArray[np.float64], a: int, b: int, max_linear: int, season: int | None
) -> NDArray[np.float64]:
    """Values for the missing ``grid[a:b]`` between the observed ``grid[a-1]`` and ``grid[b]``."""
    left, right = grid[a - 1], grid[b]
    weights = np.arange(1, b - a + 1, dtype=np.float64) / (b - a + 1)
    linear = left + (right - left) * weights
    if b - a <= max_linear or season is None or a - 1 - season < 0:
        return linear
    before = grid[a - 1 - season : b + 1 - season]
    if not np.isfinite(before).all():
        return linear
    # The shape of the same stretch one season earlier, moved to meet both observed ends.
    offset_left, offset_right = left - before[0], right - before[-1]
    return before[1:-1] + offset_left + (offset_right - offset_left) * weights


def _iso(timestamp_ns: int) -> str:
    return pd.Timestamp(timestamp_ns, unit="ns", tz="UTC").isoformat()
