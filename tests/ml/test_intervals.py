"""Split-conformal intervals: finite-sample quantiles, names and coverage on noise."""

from __future__ import annotations

import numpy as np
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml import intervals


def test_coverage_is_close_to_nominal_on_generated_noise():
    rng = np.random.default_rng(11)
    horizon = 4
    scale = np.array([0.5, 1.0, 1.5, 2.0])  # errors grow with the step, as forecasts' do
    calibration = rng.normal(0, 1, (600, horizon)) * scale
    widths = intervals.half_widths(np.abs(calibration), [80, 95])
    predicted = rng.normal(10, 1, (4000, horizon))
    actual = predicted + rng.normal(0, 1, predicted.shape) * scale
    overall, per_step = intervals.coverage(actual, predicted, widths)
    assert overall["80"] == pytest.approx(0.80, abs=0.03)
    assert overall["95"] == pytest.approx(0.95, abs=0.02)
    for step in range(horizon):
        assert per_step["80"][step] == pytest.approx(0.80, abs=0.04)
    # Wider for later steps, and the 95 % interval contains the 80 % one.
    assert widths["80"] == sorted(widths["80"])
    assert all(w95 > w80 for w80, w95 in zip(widths["80"], widths["95"], strict=True))


def test_finite_sample_quantile_and_too_few_windows():
    errors = np.arange(1.0, 10.0)[:, None]  # 9 windows: errors 1..9
    widths = intervals.half_widths(errors, [50, 80, 95])
    assert widths["50"] == [5.0]  # ceil(10 * 0.5) = 5th smallest
    assert widths["80"] == [8.0]  # ceil(10 * 0.8) = 8th smallest
    assert widths["95"] is None  # ceil(10 * 0.95) = 10 > 9 windows
    bounds = intervals.bounds(np.array([[100.0]]), widths)
    assert set(bounds) == {"lower50", "upper50", "lower80", "upper80"}
    assert bounds["lower80"][0, 0] == 92.0 and bounds["upper80"][0, 0] == 108.0
    overall, _ = intervals.coverage(np.array([[1.0]]), np.array([[0.0]]), widths)
    assert overall == {"50": 1.0, "80": 1.0, "95": None}


def test_levels_and_stored_widths_are_validated():
    assert intervals.check_levels([95, 80]) == [80, 95]
    for bad in ([0], [100], [80, 80], [80.5], [True]):
        with pytest.raises(InvalidInput):
            intervals.check_levels(bad)
    stored = {"method": "split-conformal", "half_widths": {"80": [1.0, 2.0], "95": None}}
    assert intervals.from_metadata(stored) == {"80": [1.0, 2.0]}
    assert intervals.from_metadata({"method": "split-conformal", "half_widths": {"80": [-1]}}) == {}
    assert intervals.from_metadata(None) == {}
