"""Chronological train/validation/test split and sliding windows (direct multi-step, MIMO).

Positions ``0..n-1`` index the regular points of a series. The split cuts them into three
consecutive parts; a window of ``lookback`` inputs and ``horizon`` targets belongs to the part
that holds **all** of its targets, and may take its inputs from the parts before (standard
practice). Windows whose targets straddle a boundary are not used.

Part sizes for ``n`` points (ratios ``v`` validation, ``t`` test)::

    test        = max(H, floor(t * n))
    val + test  = max(test + H, floor((v + t) * n))
    train       = n - (val + test)

so each evaluation part always holds at least one window, and ``train`` never shrinks as ``n``
grows. A gap-free series yields at least one window in each part exactly when
``train >= lookback + horizon``, i.e. when ``n >= minimum_points(...)``.

This module is pure Python + NumPy so domain validation can import it cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from chronos_core.domain.validation import check_int, check_number
from chronos_core.errors import InvalidInput

# Guards float rounding in ratio * n (0.29 * 100 == 28.999999999999996).
_RATIO_EPSILON = 1e-9

Floats = TypeVar("Floats", bound=np.floating[Any])


@dataclass(frozen=True)
class SplitSizes:
    """How many consecutive points each part holds (``train + validation + test == total``)."""

    train: int
    validation: int
    test: int

    @property
    def total(self) -> int:
        return self.train + self.validation + self.test

    @property
    def validation_start(self) -> int:
        return self.train

    @property
    def test_start(self) -> int:
        return self.train + self.validation


def check_window_parameters(
    lookback_window: int, forecast_horizon: int, validation_ratio: float, test_ratio: float
) -> None:
    """Raise ``InvalidInput`` naming the first parameter outside its allowed range."""
    check_int(lookback_window, "lookback_window")
    check_int(forecast_horizon, "forecast_horizon")
    check_number(validation_ratio, "validation_ratio", "(0, 1)")
    check_number(test_ratio, "test_ratio", "(0, 1)")
    if validation_ratio + test_ratio >= 1:
        raise InvalidInput(
            f"validation_ratio + test_ratio must be below 1 (got {validation_ratio} + {test_ratio})"
        )


def _floor_ratio(ratio: float, n: int) -> int:
    return math.floor(ratio * n + _RATIO_EPSILON)


def split_sizes(
    n: int, forecast_horizon: int, validation_ratio: float, test_ratio: float
) -> SplitSizes:
    """Sizes of the train, validation and test parts of ``n`` points (see the module docstring).

    ``train`` may come out below ``lookback + horizon`` (or negative) for too-short series;
    callers check that with :func:`minimum_points` or by counting windows.
    """
    test = max(forecast_horizon, _floor_ratio(test_ratio, n))
    evaluation = max(test + forecast_horizon, _floor_ratio(validation_ratio + test_ratio, n))
    return SplitSizes(train=n - evaluation, validation=evaluation - test, test=test)


def minimum_points(
    lookback_window: int, forecast_horizon: int, validation_ratio: float, test_ratio: float
) -> int:
    """The fewest regular, gap-free points that give at least one window in every part.

    Exact and monotone: every ``n >= minimum_points(...)`` works, ``minimum_points(...) - 1``
    does not. Raises ``InvalidInput`` for parameters outside their ranges.
    """
    check_window_parameters(lookback_window, forecast_horizon, validation_ratio, test_ratio)
    need = lookback_window + forecast_horizon

    def enough(n: int) -> bool:
        return split_sizes(n, forecast_horizon, validation_ratio, test_ratio).train >= need

    low = lookback_window + 3 * forecast_horizon  # one window per part, nothing shared
    # Above this bound train >= need whatever the rounding (floors only round down).
    bounds = (
        low,
        (lookback_window + 2 * forecast_horizon + 1) / (1 - test_ratio),
        (need + 1) / (1 - validation_ratio - test_ratio),
    )
    high = math.ceil(max(bounds)) + 1
    if enough(low):
        return low
    # Invariant: enough(low) is False, enough(high) is True; train(n) is non-decreasing in n.
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high


def window_starts(
    values: NDArray[np.floating[Any]],
    segment_ids: NDArray[np.integer[Any]],
    lookback_window: int,
    forecast_horizon: int,
    first_target: int,
    end: int,
) -> NDArray[np.int64]:
    """First-target positions of every usable window with targets in ``[first_target, end)``.

    A window with first target at ``s`` has inputs ``values[s-L:s]`` and targets
    ``values[s:s+H]``; it is usable when all of them lie in one segment (so no window bridges a
    long gap) and are finite. ``values`` and ``segment_ids`` are aligned 1-D arrays of the regular
    points, with non-decreasing segment ids.
    """
    length = lookback_window + forecast_horizon
    first_start = max(first_target, lookback_window)
    last_start = min(end, values.size) - forecast_horizon  # inclusive
    if last_start < first_start:
        return np.empty((0,), dtype=np.int64)
    starts = np.arange(first_start, last_start + 1, dtype=np.int64)
    begin = starts - lookback_window
    same_segment = segment_ids[begin] == segment_ids[begin + length - 1]
    bad = np.concatenate(([0], np.cumsum(~np.isfinite(values), dtype=np.int64)))
    finite = bad[begin + length] == bad[begin]
    return starts[same_segment & finite]


def gather_windows(
    values: NDArray[Floats],
    starts: NDArray[np.int64],
    lookback_window: int,
    forecast_horizon: int,
) -> tuple[NDArray[Floats], NDArray[Floats]]:
    """Inputs ``(n, lookback)`` and targets ``(n, horizon)`` of the windows at ``starts``, in the
    dtype of ``values`` (contiguous copies)."""
    inputs = np.lib.stride_tricks.sliding_window_view(values, lookback_window)
    targets = np.lib.stride_tricks.sliding_window_view(values, forecast_horizon)
    # Fancy indexing copies, so both results are contiguous and independent of ``values``.
    return inputs[starts - lookback_window], targets[starts]
