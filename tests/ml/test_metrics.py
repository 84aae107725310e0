"""Metric formulas against hand-computed values and their undefined cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml import metrics

Y = [1.0, 2.0, 3.0, 4.0]
P = [1.0, 3.0, 2.0, 6.0]  # errors 0, -1, 1, -2
NAIVE = [1.0, 1.0, 1.0, 1.0]  # errors 0, 1, 2, 3


def test_hand_computed_values():
    assert metrics.mae(Y, P) == pytest.approx(1.0)
    assert metrics.mse(Y, P) == pytest.approx(1.5)
    assert metrics.rmse(Y, P) == pytest.approx(math.sqrt(1.5))
    assert metrics.r2(Y, P) == pytest.approx(1 - 6 / 5)  # SST = 2.25 + .25 + .25 + 2.25
    assert metrics.smape(Y, P) == pytest.approx(200 / 4 * (0 + 1 / 5 + 1 / 5 + 2 / 10))
    assert metrics.mape(Y, P) == pytest.approx(100 / 4 * (0 + 1 / 2 + 1 / 3 + 2 / 4))
    assert metrics.mase(Y, P, 0.5) == pytest.approx(2.0)
    assert metrics.theil_u2(Y, P, NAIVE) == pytest.approx(math.sqrt(1.5 / 3.5))


def test_multi_step_metrics_pool_every_pair():
    actual = np.array([[1.0, 2.0], [3.0, 4.0]])
    predicted = np.array([[1.0, 3.0], [2.0, 6.0]])
    assert metrics.mae(actual, predicted) == pytest.approx(1.0)
    assert metrics.per_step_mae(actual, predicted) == [pytest.approx(0.5), pytest.approx(1.5)]


def test_undefined_values_are_none():
    zeros = [0.0, 1.0, 2.0]
    assert metrics.mape(zeros, [0.1, 1.0, 2.0]) is None
    assert metrics.mape([1e-9, 1.0, 2.0], [0.0, 1.0, 2.0]) is None  # below 1e-6 * max|y|
    assert metrics.mape([0.0, 0.0], [0.0, 0.0]) is None
    assert metrics.smape([0.0, 2.0], [0.0, 2.0]) == 0.0  # 0/0 pair counts as exact
    assert metrics.r2([5.0, 5.0], [4.0, 6.0]) is None
    assert metrics.mase(Y, P, 0.0) is None and metrics.mase(Y, P, None) is None
    assert metrics.theil_u2(Y, P, Y) is None
    assert metrics.mse([1e300], [-1e300]) is None  # overflows to inf
    assert metrics.finite_or_none(float("nan")) is None


def test_in_sample_naive_scale():
    values = [1.0, 2.0, 4.0, 7.0, 11.0]
    assert metrics.in_sample_naive_mae(values) == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert metrics.in_sample_naive_mae(values, season=2) == pytest.approx((3 + 5 + 7) / 3)
    # Pairs across a long gap (different segments) are left out.
    assert metrics.in_sample_naive_mae(values, 1, [0, 0, 1, 1, 1]) == pytest.approx((1 + 3 + 4) / 3)
    assert metrics.in_sample_naive_mae([1.0], 1) is None
    assert metrics.in_sample_naive_mae([1.0, 2.0], 1, [0, 1]) is None
    with pytest.raises(InvalidInput):
        metrics.in_sample_naive_mae(values, 0)


def test_compute_metrics_bundles_everything():
    result = metrics.compute_metrics([Y], [P], naive=[NAIVE], mase_scale=0.5)
    assert result.mae == pytest.approx(1.0)
    assert result.mase == pytest.approx(2.0)
    assert result.per_step_mae == [0.0, 1.0, 1.0, 2.0]
    assert result.per_step_rmse == [0.0, 1.0, 1.0, 2.0]
    assert set(result.to_dict()) == {
        "per_step_rmse",
        "mae",
        "mse",
        "rmse",
        "r2",
        "smape",
        "mape",
        "mase",
        "theil_u2",
        "per_step_mae",
    }


def test_shape_mismatch_and_empty_inputs_are_rejected():
    with pytest.raises(InvalidInput, match="shapes differ"):
        metrics.mae([1.0, 2.0], [1.0])
    with pytest.raises(InvalidInput, match="zero values"):
        metrics.mae([], [])
    with pytest.raises(InvalidInput):
        metrics.per_step_mae([1.0], [1.0])
