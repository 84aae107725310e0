"""Evaluate a trained network on the test windows against naive baselines, in original units."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from chronos_core.errors import InvalidInput
from chronos_core.ml.baselines import (
    SeasonChoice,
    choose_season,
    naive_forecast,
    seasonal_naive_forecast,
)
from chronos_core.ml.inference import DEFAULT_BATCH_SIZE, predict_windows
from chronos_core.ml.metrics import MetricSet, compute_metrics, finite_or_none, in_sample_naive_mae
from chronos_core.ml.preprocessing import PreparedData

if TYPE_CHECKING:
    import keras

NAIVE = "naive"
SEASONAL_NAIVE = "seasonal_naive"
DEFAULT_MAX_STORED_VALUES = 50_000
PERFECT_BASELINE_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class Evaluation:
    """Test-set metrics of the model and its baselines on the same windows.

    ``skill = 1 - model MAE / best baseline MAE`` (> 0: the model beats every baseline);
    ``beats_naive`` is ``model MAE < naive MAE``. ``actual``/``predicted`` are ``(windows,
    horizon)`` in original units and ``target_timestamps`` their UTC times.
    """

    windows: int
    horizon: int
    sampling_interval_seconds: int
    model: MetricSet
    baselines: dict[str, MetricSet]
    skipped_baselines: dict[str, str]
    season: SeasonChoice
    mase_season: int
    mase_scale: float | None
    best_baseline: str
    skill: float | None
    skill_by_baseline: dict[str, float | None]
    beats_naive: bool
    actual: NDArray[np.float64]
    predicted: NDArray[np.float64]
    target_timestamps: NDArray[np.datetime64]

    def stored_predictions(self, max_values: int = DEFAULT_MAX_STORED_VALUES) -> dict[str, Any]:
        """A compact, JSON-safe sample of the test forecasts: every ``window_stride``-th window
        (so at most ``max_values`` predicted values), with the timestamp of its first target.
        Target ``h`` (1-based) of a window is at ``first_target + (h-1) * interval_seconds``."""
        if max_values < self.horizon:
            raise InvalidInput(
                f"max_values must be >= the horizon ({self.horizon}), got {max_values}"
            )
        capacity = max(1, max_values // self.horizon)
        stride = max(1, math.ceil(self.windows / capacity))
        chosen = np.arange(0, self.windows, stride)
        first = pd.to_datetime(self.target_timestamps[chosen, 0], utc=True)
        return {
            "interval_seconds": self.sampling_interval_seconds,
            "horizon": self.horizon,
            "total_windows": self.windows,
            "window_stride": stride,
            "first_target_timestamps": [stamp.isoformat() for stamp in first],
            "actual": [[finite_or_none(v) for v in row] for row in self.actual[chosen]],
            "predicted": [
                [_short_float(v) for v in row] for row in self.predicted[chosen].astype(np.float32)
            ],
        }

    def to_dict(self, *, max_stored_values: int = DEFAULT_MAX_STORED_VALUES) -> dict[str, Any]:
        """JSON-safe summary (metrics, baselines, skill, and :meth:`stored_predictions`)."""
        return {
            "windows": self.windows,
            "horizon": self.horizon,
            "model": self.model.to_dict(),
            "baselines": {name: metrics.to_dict() for name, metrics in self.baselines.items()},
            "skipped_baselines": dict(self.skipped_baselines),
            "season_length": self.season.steps,
            "season_period": self.season.period_name,
            "mase_season": self.mase_season,
            "mase_scale": self.mase_scale,
            "best_baseline": self.best_baseline,
            "skill": self.skill,
            "skill_by_baseline": dict(self.skill_by_baseline),
            "beats_naive": self.beats_naive,
            "test_predictions": self.stored_predictions(max_stored_values),
        }


def _short_float(value: np.float32) -> float | None:
    # str() of a float32 is its shortest round-trip form ("20.123457", not 20.12345695495605).
    return float(str(value)) if np.isfinite(value) else None


def _skill(model_mae: float | None, baseline_mae: float | None, level: float) -> float | None:
    """``1 - model/baseline``; ``None`` when the baseline is (numerically) perfect, i.e. its MAE
    is at most ``PERFECT_BASELINE_TOLERANCE`` times the mean magnitude of the actuals."""
    if model_mae is None or baseline_mae is None:
        return None
    if not baseline_mae > PERFECT_BASELINE_TOLERANCE * level:
        return None
    return finite_or_none(1.0 - model_mae / baseline_mae)


def evaluate(
    network: keras.Model,
    prepared: PreparedData,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Evaluation:
    """Predict every test window, return to original units and score the model and the naive
    and (when a season fits the lookback) seasonal-naive baselines on the same windows."""
    scaled = predict_windows(network, prepared.x_test, batch_size=batch_size)
    predicted = prepared.y_scaler.inverse_transform(scaled)
    actual = prepared.test_targets
    horizon = prepared.forecast_horizon
    season = choose_season(prepared.sampling_interval_seconds, prepared.lookback_window)

    mase_season = 1
    mase_scale = None
    if season.steps is not None:
        mase_scale = in_sample_naive_mae(
            prepared.train_values, season.steps, prepared.train_segment_ids
        )
        mase_season = season.steps if mase_scale is not None else 1
    if mase_scale is None:
        mase_scale = in_sample_naive_mae(prepared.train_values, 1, prepared.train_segment_ids)

    naive = naive_forecast(prepared.test_inputs, horizon)
    forecasts = {NAIVE: naive}
    skipped: dict[str, str] = {}
    if season.steps is not None:
        forecasts[SEASONAL_NAIVE] = seasonal_naive_forecast(
            prepared.test_inputs, horizon, season.steps
        )
    else:
        skipped[SEASONAL_NAIVE] = season.reason or "no season"

    def score(values: NDArray[np.float64]) -> MetricSet:
        return compute_metrics(actual, values, naive=naive, mase_scale=mase_scale)

    model_metrics = score(predicted)
    baselines = {name: score(values) for name, values in forecasts.items()}
    ranked = sorted(
        (name for name in baselines if baselines[name].mae is not None),
        key=lambda name: baselines[name].mae or 0.0,
    )
    best = ranked[0] if ranked else NAIVE
    level = float(np.mean(np.abs(actual)))
    skill_by_baseline = {
        name: _skill(model_metrics.mae, m.mae, level) for name, m in baselines.items()
    }
    naive_mae = baselines[NAIVE].mae
    return Evaluation(
        windows=int(actual.shape[0]),
        horizon=horizon,
        sampling_interval_seconds=prepared.sampling_interval_seconds,
        model=model_metrics,
        baselines=baselines,
        skipped_baselines=skipped,
        season=season,
        mase_season=mase_season,
        mase_scale=mase_scale,
        best_baseline=best,
        skill=skill_by_baseline.get(best),
        skill_by_baseline=skill_by_baseline,
        beats_naive=(
            model_metrics.mae is not None
            and naive_mae is not None
            and model_metrics.mae < naive_mae
        ),
        actual=actual,
        predicted=predicted,
        target_timestamps=prepared.test_target_timestamps,
    )
