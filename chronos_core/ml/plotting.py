"""PNG charts for training artifacts and the demo (matplotlib, Agg canvas, imported lazily).

Figures are drawn on their own ``Figure`` + Agg canvas (no pyplot global state), so the
functions are safe to call from worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from chronos_core.errors import InvalidInput

DPI = 100
SIZE = (9.0, 4.0)
#: Fixed margins (fractions of the figure) with room for six-digit tick labels and the axis
#: labels: a layout engine would draw every figure twice to measure them (about half the cost).
MARGINS = {"left": 0.1, "right": 0.98, "top": 0.9, "bottom": 0.13}


def _figure(title: str | None) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI)
    figure.subplots_adjust(**MARGINS)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if title:
        axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def _png(figure: Any, axes: Any = None, unit: str | None = None) -> bytes:
    """The figure as PNG bytes; with ``axes``, first labelled as a time series in ``unit``."""
    if axes is not None:
        axes.set_xlabel("time (UTC)")
        axes.set_ylabel(unit or "value")
        axes.legend()
        figure.autofmt_xdate()
    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _utc_naive(timestamps: ArrayLike) -> np.ndarray:
    """Timestamps as naive ``datetime64[ns]`` in UTC (what matplotlib plots)."""
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps).ravel(), utc=True))
    return index.tz_convert("UTC").tz_localize(None).to_numpy()


def loss_curve_png(
    history: Mapping[str, Sequence[float]],
    *,
    best_epoch: int | None = None,
    title: str | None = None,
) -> bytes:
    """Training and validation loss per epoch (log scale when all losses are positive)."""
    loss = np.asarray(history.get("loss", []), dtype=np.float64)
    val_loss = np.asarray(history.get("val_loss", []), dtype=np.float64)
    if loss.size == 0:
        raise InvalidInput("cannot plot an empty loss history")
    figure, axes = _figure(title or "Loss (MSE, scaled units)")
    epochs = np.arange(1, loss.size + 1)
    axes.plot(epochs, loss, marker="o", markersize=3, label="training")
    if val_loss.size:
        axes.plot(
            np.arange(1, val_loss.size + 1), val_loss, marker="o", markersize=3, label="validation"
        )
    if best_epoch is not None:
        axes.axvline(
            best_epoch + 1, color="grey", linestyle="--", label=f"best epoch ({best_epoch + 1})"
        )
    finite = np.concatenate([loss, val_loss])
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() > 0:
        axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.legend()
    return _png(figure)


def backtest_png(
    target_timestamps: ArrayLike,
    actual: ArrayLike,
    predicted: ArrayLike,
    *,
    title: str | None = None,
    unit: str | None = None,
    half_widths: Mapping[str, Sequence[float] | None] | None = None,
) -> bytes:
    """Test actuals against the model's 1-step-ahead and last-step forecasts, each drawn at its
    target time, with the step-1 prediction intervals (``half_widths`` per level) as bands.
    Arrays are ``(windows, horizon)``; timestamps UTC."""
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    stamps = np.asarray(target_timestamps)
    if y.ndim != 2 or y.shape != p.shape or stamps.shape != y.shape or y.shape[0] == 0:
        raise InvalidInput(
            "test plot needs equal (windows, horizon) arrays of timestamps, actuals and predictions"
        )
    horizon = y.shape[1]
    figure, axes = _figure(title or "Test forecasts")
    first = _utc_naive(stamps[:, 0])
    axes.plot(first, y[:, 0], color="black", linewidth=1.2, label="actual")
    axes.plot(first, p[:, 0], linewidth=1.0, label="forecast, step 1")
    for level, width in _widest_first(half_widths):
        axes.fill_between(
            first,
            p[:, 0] - width[0],
            p[:, 0] + width[0],
            color="tab:blue",
            alpha=0.12,
            label=f"{level} % interval, step 1",
        )
    if horizon > 1:
        last = _utc_naive(stamps[:, -1])
        axes.plot(last, p[:, -1], linewidth=1.0, alpha=0.8, label=f"forecast, step {horizon}")
    return _png(figure, axes, unit)


def forecast_png(
    history_timestamps: ArrayLike,
    history_values: ArrayLike,
    forecast_timestamps: ArrayLike,
    forecast_values: ArrayLike,
    *,
    title: str | None = None,
    unit: str | None = None,
    bounds: Mapping[str, tuple[ArrayLike, ArrayLike]] | None = None,
) -> bytes:
    """Recent history followed by a forecast (timestamps UTC), with its prediction intervals
    (``bounds``: level → (lower, upper) per forecast step) as bands."""
    history = np.asarray(history_values, dtype=np.float64).ravel()
    future = np.asarray(forecast_values, dtype=np.float64).ravel()
    past_times = _utc_naive(history_timestamps)
    future_times = _utc_naive(forecast_timestamps)
    if past_times.size != history.size or future_times.size != future.size or future.size == 0:
        raise InvalidInput("forecast plot needs one timestamp per value and a non-empty forecast")
    figure, axes = _figure(title or "Forecast")
    axes.plot(past_times, history, color="black", linewidth=1.2, label="history")
    if history.size:
        # Join the forecast to the last observation so the two lines connect.
        future_times = np.concatenate([past_times[-1:], future_times])
        future = np.concatenate([history[-1:], future])
    axes.plot(future_times, future, color="tab:orange", marker="o", markersize=3, label="forecast")
    target_times = _utc_naive(forecast_timestamps)
    for level, (lower, upper) in sorted((bounds or {}).items(), key=lambda item: -float(item[0])):
        low = np.asarray(lower, dtype=np.float64).ravel()
        high = np.asarray(upper, dtype=np.float64).ravel()
        if low.size != target_times.size or high.size != target_times.size:
            raise InvalidInput("forecast plot needs one interval bound per forecast value")
        axes.fill_between(
            target_times, low, high, color="tab:orange", alpha=0.15, label=f"{level} % interval"
        )
    return _png(figure, axes, unit)


def _widest_first(
    half_widths: Mapping[str, Sequence[float] | None] | None,
) -> list[tuple[str, Sequence[float]]]:
    usable = [(level, w) for level, w in (half_widths or {}).items() if w is not None]
    return sorted(usable, key=lambda item: -float(item[0]))
