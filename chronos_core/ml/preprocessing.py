"""Turn a raw series into scaled training/validation/test windows (:func:`prepare`) and the
latest input window for a forecast (:func:`latest_window`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from chronos_core.errors import InsufficientData, InvalidInput
from chronos_core.ml.regular_grid import (
    DEFAULT_MAX_INTERPOLATED_GAP,
    NANOS_PER_SECOND,
    RegularSeries,
    regularize,
)
from chronos_core.ml.scalers import StandardScaler
from chronos_core.ml.windowing import (
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

    sizes = split_sizes(n, forecast_horizon, validation_ratio, test_ratio)
    bounds = {
        "train": (0, sizes.train),
        "validation": (sizes.validation_start, sizes.test_start),
        "test": (sizes.test_start, n),
    }
    starts = {
        part: window_starts(
            regular.values, regular.segment_ids, lookback_window, forecast_horizon, low, high
        )
        for part, (low, high) in bounds.items()
    }
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
    )


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class ForecastWindow:
    """The latest ``lookback_window`` regular points (original units) and where they end."""

    values: NDArray[np.float64]
    last_timestamp: pd.Timestamp
    sampling_interval_seconds: int

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
) -> ForecastWindow:
    """The input window for a forecast, regularised exactly like the training data.

    ``sampling_interval_seconds`` is the interval the model was trained with. Raises
    ``InsufficientData`` when fewer than ``lookback_window`` contiguous points end at the last
    observation (a longer gap inside the window is never bridged).
    """
    if (
        isinstance(lookback_window, bool)
        or not isinstance(lookback_window, int)
        or lookback_window < 1
    ):
        raise InvalidInput(f"lookback_window must be an integer >= 1, got {lookback_window!r}")
    regular: RegularSeries = regularize(
        series,
        sampling_interval_seconds=sampling_interval_seconds,
        max_interpolated_gap=max_interpolated_gap,
    )
    available = regular.last_segment_length
    if available < lookback_window:
        raise InsufficientData(
            f"not enough recent data to forecast: the model needs the last {lookback_window} "
            f"points at {regular.sampling_interval_seconds} s spacing; found {available} "
            f"contiguous points up to {regular.last_observed_timestamp.isoformat()}"
            + (
                f" (a gap longer than {regular.max_interpolated_gap} missing points precedes them)"
                if regular.counts.segments > 1
                else ""
            ),
            details={"required": lookback_window, "found": available},
        )
    return ForecastWindow(
        values=regular.values[-lookback_window:].copy(),
        last_timestamp=regular.last_observed_timestamp,
        sampling_interval_seconds=regular.sampling_interval_seconds,
    )


def _iso(timestamp_ns: int) -> str:
    return pd.Timestamp(timestamp_ns, unit="ns", tz="UTC").isoformat()
