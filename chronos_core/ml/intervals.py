"""Split-conformal prediction intervals per horizon step.

Calibration: the absolute errors ``|y - ŷ|`` of the network on held-out windows (the validation
part, which the weights were not fitted on), one column per horizon step. For a level ``L`` %
and ``n`` calibration windows the half-width of step ``h`` is the ``⌈(n+1)·L/100⌉``-th smallest
error of that step (the finite-sample split-conformal quantile); the interval of a forecast is
``[ŷ_h - q_h, ŷ_h + q_h]``, named ``lower{L}``/``upper{L}``. With too few windows for a level
(``⌈(n+1)·L/100⌉ > n``) that level has no interval (``None``). Coverage is then measured on
the test origins, which neither the weights nor the calibration saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field, TypeAdapter, ValidationError

from chronos_core.domain.validation import check_int
from chronos_core.errors import InvalidInput
from chronos_core.ml.metrics import finite_or_none

METHOD = "split-conformal"
DEFAULT_LEVELS = (80, 95)

HalfWidths = dict[str, list[float] | None]


def check_levels(levels: Sequence[int]) -> list[int]:
    """Integer percentages in [1, 99], without repeats, sorted (InvalidInput otherwise)."""
    out = [check_int(level, "an interval level (percent)", 1, 99) for level in levels]
    if len(set(out)) != len(out):
        raise InvalidInput(f"interval levels must not repeat, got {list(levels)}")
    return sorted(out)


def bound_names(level: int | str) -> tuple[str, str]:
    """``("lower80", "upper80")`` for level 80."""
    return f"lower{level}", f"upper{level}"


def half_widths(abs_errors: ArrayLike, levels: Sequence[int]) -> HalfWidths:
    """Per level (key ``str(level)``), the per-step half-widths, or ``None`` when too few
    calibration windows exist for that level."""
    errors = np.abs(np.asarray(abs_errors, dtype=np.float64))
    if errors.ndim != 2 or errors.shape[0] == 0:
        raise InvalidInput(f"calibration errors must be (windows, horizon), got {errors.shape}")
    errors = errors[np.isfinite(errors).all(axis=1)]
    n = errors.shape[0]
    ordered = np.sort(errors, axis=0)
    result: HalfWidths = {}
    for level in check_levels(levels):
        rank = math.ceil((n + 1) * level / 100)
        result[str(level)] = None if n == 0 or rank > n else [float(v) for v in ordered[rank - 1]]
    return result


def bounds(
    predicted: ArrayLike, widths: Mapping[str, Sequence[float] | None]
) -> dict[str, NDArray[np.float64]]:
    """``{"lower80": ŷ - q, "upper80": ŷ + q, ...}`` for each level with an interval; works for
    one forecast ``(horizon,)`` or many ``(n, horizon)``."""
    y = np.asarray(predicted, dtype=np.float64)
    out: dict[str, NDArray[np.float64]] = {}
    for level, width in widths.items():
        if width is None:
            continue
        q = np.asarray(width, dtype=np.float64)
        if q.shape[-1] != y.shape[-1]:
            raise InvalidInput(
                f"level {level}: {q.shape[-1]} half-widths for a horizon of {y.shape[-1]}"
            )
        lower, upper = bound_names(level)
        out[lower] = y - q
        out[upper] = y + q
    return out


def coverage(
    actual: ArrayLike, predicted: ArrayLike, widths: Mapping[str, Sequence[float] | None]
) -> tuple[dict[str, float | None], dict[str, list[float | None]]]:
    """Empirical coverage per level (share of (origin, step) pairs inside the interval), overall
    and per horizon step; ``None`` for a level without an interval."""
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2 or y.shape[0] == 0:
        raise InvalidInput("coverage needs equal non-empty (origins, horizon) arrays")
    overall: dict[str, float | None] = {}
    per_step: dict[str, list[float | None]] = {}
    for level, width in widths.items():
        if width is None:
            overall[level] = None
            per_step[level] = [None] * y.shape[1]
            continue
        q = np.asarray(width, dtype=np.float64)
        inside = np.abs(y - p) <= q[np.newaxis, :]
        overall[level] = finite_or_none(inside.mean())
        per_step[level] = [finite_or_none(v) for v in inside.mean(axis=0)]
    return overall, per_step


#: Stored half-widths: per level, finite non-negative numbers, or None (no interval).
_STORED_WIDTHS = TypeAdapter(
    dict[str, list[Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]] | None]
)


def from_metadata(document: Any) -> HalfWidths:
    """The half-widths stored in a metadata artifact's ``intervals`` (``{}`` when absent or
    malformed: a forecast without intervals beats no forecast)."""
    if not isinstance(document, dict) or document.get("method") != METHOD:
        return {}
    try:
        widths = _STORED_WIDTHS.validate_python(document.get("half_widths"))
    except ValidationError:
        return {}
    return {level: values for level, values in widths.items() if values is not None}
