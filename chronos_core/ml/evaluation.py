"""Rolling-origin backtest of a trained network against its baselines, in original units.

The origins are the test windows (each window's first target is an origin; the network sees its
input window, the baselines the full history before it), every ``stride``-th one so that at most
``max_origins`` are scored: ``stride = ⌈test windows / max_origins⌉``. Every forecaster — the
network, naive, each seasonal naive, the statistical model — is scored on exactly these origins.
``skill = 1 - model MAE / best baseline MAE`` (> 0: better than every baseline). Prediction
intervals are split-conformal (:mod:`chronos_core.ml.intervals`), calibrated on the validation
windows and their coverage measured on the same test origins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from chronos_core.domain.validation import check_int
from chronos_core.errors import InvalidInput
from chronos_core.ml import intervals as conformal
from chronos_core.ml.baselines import (
    NAIVE,
    BaselineUnavailable,
    History,
    SeasonChoice,
    StatisticalResult,
    baseline_label,
    choose_season,
    history_naive,
    history_seasonal_naive,
    seasonal_periods,
    statistical_forecast,
)
from chronos_core.ml.inference import DEFAULT_BATCH_SIZE, predict_windows
from chronos_core.ml.metrics import MetricSet, compute_metrics, finite_or_none, in_sample_naive_mae
from chronos_core.ml.preprocessing import PreparedData

if TYPE_CHECKING:
    import keras

DEFAULT_MAX_STORED_VALUES = 50_000
DEFAULT_MAX_ORIGINS = 100
PERFECT_BASELINE_TOLERANCE = 1e-9
MODEL = "model"


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class Evaluation:
    """Backtest metrics of the model and its baselines on the same origins.

    ``actual``/``predicted`` are ``(origins, horizon)`` in original units and
    ``target_timestamps`` their UTC times; ``half_widths`` the conformal half-widths per level.
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
    stride: int = 1
    test_windows: int = 0
    best_forecaster: str = MODEL
    verdict: str = ""
    seasons: list[dict[str, Any]] = field(default_factory=list)
    statistical: dict[str, Any] = field(default_factory=dict)
    levels: list[int] = field(default_factory=list)
    half_widths: conformal.HalfWidths = field(default_factory=dict)
    calibration_windows: int = 0
    coverage: dict[str, float | None] = field(default_factory=dict)
    coverage_per_step: dict[str, list[float | None]] = field(default_factory=dict)

    def stored_predictions(self, max_values: int = DEFAULT_MAX_STORED_VALUES) -> dict[str, Any]:
        """A compact, JSON-safe sample of the backtest forecasts: every ``window_stride``-th
        origin (so at most ``max_values`` predicted values), with the timestamp of its first
        target. Target ``h`` (1-based) is at ``first_target + (h-1) * interval_seconds``."""
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

    def backtest_dict(self) -> dict[str, Any]:
        """``job.metrics["backtest"]``: origins, stride, every forecaster's errors, verdict."""
        return {
            "origins": self.windows,
            "stride": self.stride,
            "test_windows": self.test_windows,
            "horizon": self.horizon,
            "model": self.model.to_dict(),
            "baselines": {name: m.to_dict() for name, m in self.baselines.items()},
            "skipped_baselines": dict(self.skipped_baselines),
            "best_baseline": self.best_baseline,
            "skill": self.skill,
            "skill_by_baseline": dict(self.skill_by_baseline),
            "best_forecaster": self.best_forecaster,
            "beats_every_baseline": self.best_forecaster == MODEL,
            "verdict": self.verdict,
            "seasons": list(self.seasons),
            "statistical": dict(self.statistical),
        }

    def intervals_dict(self) -> dict[str, Any]:
        """``job.metrics["intervals"]`` and the metadata's ``intervals`` (with half-widths)."""
        return {
            "method": conformal.METHOD,
            "levels": list(self.levels),
            "calibration": "validation",
            "calibration_windows": self.calibration_windows,
            "half_widths": {k: v if v is None else list(v) for k, v in self.half_widths.items()},
            "coverage": dict(self.coverage),
            "coverage_per_step": {k: list(v) for k, v in self.coverage_per_step.items()},
            "coverage_origins": self.windows,
        }

    def to_dict(self, *, max_stored_values: int = DEFAULT_MAX_STORED_VALUES) -> dict[str, Any]:
        """JSON-safe summary (metrics, baselines, skill, backtest, intervals, predictions)."""
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
            "backtest": self.backtest_dict(),
            "intervals": self.intervals_dict(),
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


def backtest_stride(test_windows: int, max_origins: int) -> int:
    """``⌈test_windows / max_origins⌉`` (at least 1)."""
    return max(1, math.ceil(test_windows / check_int(max_origins, "max_origins")))


def _history(prepared: PreparedData) -> History:
    return History(
        values=prepared.series_values,
        segment_ids=prepared.series_segment_ids,
        timestamps_ns=prepared.series_timestamps_ns,
        sampling_interval_seconds=prepared.sampling_interval_seconds,
    )


def statistical_baseline(
    prepared: PreparedData, max_origins: int = DEFAULT_MAX_ORIGINS
) -> StatisticalResult:
    """The statistical baseline of :func:`evaluate` (the costly one) on the same origins."""
    total = int(prepared.test_targets.shape[0])
    origins = prepared.test_origin_positions[
        np.arange(0, total, backtest_stride(total, max_origins))
    ]
    seasons = [int(s["steps"]) for s in series_seasons(prepared)]
    return statistical_forecast(_history(prepared), origins, prepared.forecast_horizon, seasons)


def series_seasons(prepared: PreparedData) -> list[dict[str, Any]]:
    """The seasons detected on the series: those recorded with the prepared data when present,
    else detected here from the full regular series."""
    recorded = getattr(prepared, "seasons", None)
    if recorded is None:
        recorded = prepared.summary.get("seasons")
    if recorded is not None:
        return [s if isinstance(s, dict) else s.to_dict() for s in recorded]
    from chronos_core.ml.seasons import detect_seasons

    found = detect_seasons(
        prepared.series_values, prepared.series_timestamps_ns, prepared.sampling_interval_seconds
    )
    return [season.to_dict() for season in found]


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"


def verdict_text(
    model_mae: float | None,
    baselines: dict[str, MetricSet],
    skipped: dict[str, str],
    best_baseline: str,
    skill: float | None,
) -> tuple[str, str]:
    """The best forecaster's name and one paragraph saying whether the model beats every
    baseline, which is best and by how much."""
    maes = {name: m.mae for name, m in baselines.items() if m.mae is not None}
    best_label = baseline_label(best_baseline)
    best_mae = maes.get(best_baseline)
    losing_to = sorted(
        (name for name, mae in maes.items() if model_mae is None or mae <= model_mae),
        key=lambda name: maes[name],
    )
    if model_mae is not None and not losing_to:
        best = MODEL
        text = (
            f"The model beats every baseline: its MAE ({_fmt(model_mae)}) is "
            f"{(skill or 0.0):.1%} lower than that of the best baseline, {best_label} "
            f"(MAE {_fmt(best_mae)})."
        )
    else:
        best = best_baseline
        if model_mae is None:
            text = f"The model's MAE is undefined; the best forecaster is {best_label}."
        elif skill is None:
            text = (
                f"The model does NOT beat every baseline: the best forecaster is {best_label}, "
                f"which is perfect on the test origins (MAE {_fmt(best_mae)}; model MAE "
                f"{_fmt(model_mae)})."
            )
        else:
            worse = model_mae / best_mae - 1.0 if best_mae else math.inf
            text = (
                f"The model does NOT beat every baseline: the best forecaster is {best_label} "
                f"with MAE {_fmt(best_mae)}; the model's MAE ({_fmt(model_mae)}) is "
                f"{worse:.1%} higher (skill {skill:+.3f})."
            )
        text += (
            " It loses to: "
            + ", ".join(f"{baseline_label(name)} (MAE {_fmt(maes[name])})" for name in losing_to)
            + "."
        )
    if skipped:
        text += (
            " Not computed: "
            + "; ".join(f"{name} ({reason})" for name, reason in sorted(skipped.items()))
            + "."
        )
    return best, text


def evaluate(
    network: keras.Model,
    prepared: PreparedData,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_origins: int = DEFAULT_MAX_ORIGINS,
    interval_levels: Sequence[int] = conformal.DEFAULT_LEVELS,
    statistical: StatisticalResult | None = None,
) -> Evaluation:
    """Backtest the network and every baseline on the same test origins and calibrate the
    prediction intervals on the validation windows (see the module docstring).
    ``statistical``: the result of :func:`statistical_baseline` for the same ``max_origins``,
    if it was computed already (it needs no network, so it can run while the network trains)."""
    levels = conformal.check_levels(interval_levels)
    horizon = prepared.forecast_horizon
    interval = prepared.sampling_interval_seconds
    total = int(prepared.test_targets.shape[0])
    stride = backtest_stride(total, max_origins)
    chosen = np.arange(0, total, stride)

    # One network call for the backtest origins and the calibration (validation) windows:
    # an eager recurrent call costs about the same for 100 windows as for 2,000.
    scaled = predict_windows(
        network, np.concatenate([prepared.x_test[chosen], prepared.x_val]), batch_size=batch_size
    )
    predicted = prepared.y_scaler.inverse_transform(scaled[: chosen.size])
    actual = prepared.test_targets[chosen]
    origins = prepared.test_origin_positions[chosen]
    history = _history(prepared)

    season = choose_season(interval, max(1, prepared.train_values.size))
    mase_season = 1
    mase_scale = None
    if season.steps is not None:
        mase_scale = in_sample_naive_mae(
            prepared.train_values, season.steps, prepared.train_segment_ids
        )
        mase_season = season.steps if mase_scale is not None else 1
    if mase_scale is None:
        mase_scale = in_sample_naive_mae(prepared.train_values, 1, prepared.train_segment_ids)

    seasons = series_seasons(prepared)
    season_steps = [int(s["steps"]) for s in seasons]
    naive = history_naive(history, origins, horizon)
    forecasts: dict[str, NDArray[np.float64]] = {NAIVE: naive}
    periods, skipped = seasonal_periods(interval, season_steps)
    for period in periods:
        try:
            forecasts[period.name] = history_seasonal_naive(history, origins, horizon, period)
        except BaselineUnavailable as error:
            skipped[period.name] = error.message
    if statistical is None:
        statistical = statistical_forecast(history, origins, horizon, season_steps)
    skipped.update(statistical.skipped)
    if statistical.forecasts is not None:
        forecasts[statistical.name] = statistical.forecasts

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
    skill = skill_by_baseline.get(best)
    best_forecaster, verdict = verdict_text(model_metrics.mae, baselines, skipped, best, skill)

    calibration = np.abs(
        prepared.y_scaler.inverse_transform(prepared.y_val)
        - prepared.y_scaler.inverse_transform(scaled[chosen.size :])
    )
    widths = conformal.half_widths(calibration, levels)
    covered, covered_per_step = conformal.coverage(actual, predicted, widths)

    naive_mae = baselines[NAIVE].mae
    return Evaluation(
        windows=int(actual.shape[0]),
        horizon=horizon,
        sampling_interval_seconds=interval,
        model=model_metrics,
        baselines=baselines,
        skipped_baselines=skipped,
        season=season,
        mase_season=mase_season,
        mase_scale=mase_scale,
        best_baseline=best,
        skill=skill,
        skill_by_baseline=skill_by_baseline,
        beats_naive=(
            model_metrics.mae is not None
            and naive_mae is not None
            and model_metrics.mae < naive_mae
        ),
        actual=actual,
        predicted=predicted,
        target_timestamps=prepared.test_target_timestamps[chosen],
        stride=stride,
        test_windows=total,
        best_forecaster=best_forecaster,
        verdict=verdict,
        seasons=seasons,
        statistical={
            "name": statistical.name,
            "seasons": statistical.seasons,
            "context_points": statistical.context_points,
            "library": "statsforecast",
        },
        levels=levels,
        half_widths=widths,
        calibration_windows=int(calibration.shape[0]),
        coverage=covered,
        coverage_per_step=covered_per_step,
    )
