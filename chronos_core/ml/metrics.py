"""Point-forecast metrics in original units, pooled over every (window, horizon step) pair.

Definitions (``e = y - ŷ``, ``n`` pairs):

- ``mae  = mean(|e|)``; ``mse = mean(e²)``; ``rmse = sqrt(mse)``
- ``r2   = 1 - Σe² / Σ(y - ȳ)²`` with ``ȳ`` the mean of the evaluated actuals; ``None`` when
  the actuals are constant.
- ``smape = 200/n · Σ |e| / (|y| + |ŷ|)`` (M4/Hyndman form, percent, 0 to 200); a pair with
  ``y = ŷ = 0`` contributes 0.
- ``mape = 100/n · Σ |e| / |y|`` (percent); ``None`` when any actual is near zero, i.e.
  ``min|y| <= MAPE_ZERO_TOLERANCE · max|y|`` (which includes all-zero actuals). MAPE is
  meaningless on scales without a true zero such as °C; prefer MAE/MASE there.
- ``mase = mae / scale`` with ``scale`` the in-sample (training part) one-step naive MAE at lag
  ``m`` (:func:`in_sample_naive_mae`; ``m = 1`` non-seasonal); ``None`` when the scale is 0.
- ``theil_u2 = rmse(model) / rmse(naive)`` on the same pairs, the naive forecast repeating the
  last input value (< 1 beats naive); ``None`` when the naive RMSE is 0.

Any non-finite result becomes ``None``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ParamSpec, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chronos_core.domain.validation import check_int
from chronos_core.errors import InvalidInput

MAPE_ZERO_TOLERANCE = 1e-6

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _quiet(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Overflow or 0/0 inside a metric yields a non-finite result (then None), not a warning."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return function(*args, **kwargs)

    return wrapper


def finite_or_none(value: float | np.floating[Any] | None) -> float | None:
    """``float(value)`` if it is finite, else ``None`` (for JSON-safe metric values)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pair(
    actual: ArrayLike, predicted: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if y.shape != p.shape:
        raise InvalidInput(f"actual and predicted shapes differ: {y.shape} vs {p.shape}")
    if y.size == 0:
        raise InvalidInput("cannot compute metrics on zero values")
    return y.ravel(), p.ravel()


@_quiet
def mae(actual: ArrayLike, predicted: ArrayLike) -> float | None:
    y, p = _pair(actual, predicted)
    return finite_or_none(np.mean(np.abs(y - p)))


@_quiet
def mse(actual: ArrayLike, predicted: ArrayLike) -> float | None:
    y, p = _pair(actual, predicted)
    return finite_or_none(np.mean((y - p) ** 2))


@_quiet
def rmse(actual: ArrayLike, predicted: ArrayLike) -> float | None:
    squared = mse(actual, predicted)
    return None if squared is None else finite_or_none(math.sqrt(squared))


@_quiet
def r2(actual: ArrayLike, predicted: ArrayLike) -> float | None:
    y, p = _pair(actual, predicted)
    total = float(np.sum((y - y.mean()) ** 2))
    if not total > 0:
        return None
    return finite_or_none(1.0 - float(np.sum((y - p) ** 2)) / total)


@_quiet
def smape(actual: ArrayLike, predicted: ArrayLike) -> float | None:
    y, p = _pair(actual, predicted)
    denominator = np.abs(y) + np.abs(p)
    error = np.abs(y - p)
    ratio = np.divide(error, denominator, out=np.zeros_like(error), where=denominator > 0)
    return finite_or_none(200.0 * np.mean(ratio))


@_quiet
def mape(actual: ArrayLike, predicted: ArrayLike) -> float | None:
    y, p = _pair(actual, predicted)
    magnitude = np.abs(y)
    if not float(magnitude.min()) > MAPE_ZERO_TOLERANCE * float(magnitude.max()):
        return None
    return finite_or_none(100.0 * np.mean(np.abs(y - p) / magnitude))


@_quiet
def mase(actual: ArrayLike, predicted: ArrayLike, scale: float | None) -> float | None:
    if scale is None or not scale > 0:
        return None
    error = mae(actual, predicted)
    return None if error is None else finite_or_none(error / scale)


@_quiet
def theil_u2(actual: ArrayLike, predicted: ArrayLike, naive: ArrayLike) -> float | None:
    model_rmse = rmse(actual, predicted)
    naive_rmse = rmse(actual, naive)
    if model_rmse is None or naive_rmse is None or not naive_rmse > 0:
        return None
    return finite_or_none(model_rmse / naive_rmse)


def _per_step(actual: ArrayLike, predicted: ArrayLike, what: str) -> NDArray[np.float64]:
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2 or y.shape[0] == 0:
        raise InvalidInput(
            f"per-step {what} needs two equal (windows, horizon) arrays, "
            f"got {y.shape} and {p.shape}"
        )
    return y - p


@_quiet
def per_step_mae(actual: ArrayLike, predicted: ArrayLike) -> list[float | None]:
    """MAE of each horizon step over the windows; inputs are ``(windows, horizon)``."""
    errors = _per_step(actual, predicted, "MAE")
    return [finite_or_none(v) for v in np.mean(np.abs(errors), axis=0)]


@_quiet
def per_step_rmse(actual: ArrayLike, predicted: ArrayLike) -> list[float | None]:
    """RMSE of each horizon step over the windows; inputs are ``(windows, horizon)``."""
    errors = _per_step(actual, predicted, "RMSE")
    return [finite_or_none(v) for v in np.sqrt(np.mean(errors**2, axis=0))]


@_quiet
def in_sample_naive_mae(
    values: ArrayLike, season: int = 1, segment_ids: ArrayLike | None = None
) -> float | None:
    """``mean |y_t - y_{t-m}|`` over the regular training points (the MASE scale).

    With ``segment_ids``, pairs that straddle a long gap (different segments) are left out.
    ``None`` when no pair exists or a value is non-finite.
    """
    season = check_int(season, "season")
    y = np.asarray(values, dtype=np.float64).ravel()
    if y.size <= season:
        return None
    differences = np.abs(y[season:] - y[:-season])
    if segment_ids is not None:
        segments = np.asarray(segment_ids).ravel()
        if segments.shape != y.shape:
            raise InvalidInput("segment_ids must have one entry per value")
        differences = differences[segments[season:] == segments[:-season]]
    if differences.size == 0:
        return None
    return finite_or_none(np.mean(differences))


@dataclass(frozen=True)
class MetricSet:
    """The metrics of one forecaster on the test windows (``None``: undefined)."""

    mae: float | None
    mse: float | None
    rmse: float | None
    r2: float | None
    smape: float | None
    mape: float | None
    mase: float | None
    theil_u2: float | None
    per_step_mae: list[float | None]
    per_step_rmse: list[float | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_metrics(
    actual: ArrayLike, predicted: ArrayLike, *, naive: ArrayLike, mase_scale: float | None
) -> MetricSet:
    """Every metric of ``predicted`` against ``actual`` (both ``(windows, horizon)``, original
    units); ``naive`` is the persistence forecast on the same windows (for Theil's U2)."""
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    return MetricSet(
        mae=mae(y, p),
        mse=mse(y, p),
        rmse=rmse(y, p),
        r2=r2(y, p),
        smape=smape(y, p),
        mape=mape(y, p),
        mase=mase(y, p, mase_scale),
        theil_u2=theil_u2(y, p, naive),
        per_step_mae=per_step_mae(y, p),
        per_step_rmse=per_step_rmse(y, p),
    )
