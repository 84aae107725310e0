"""Human-readable summaries of a finished training job: the backtest of the model against its
baselines, the verdict and the prediction intervals (floats rounded for people)."""

from __future__ import annotations

from typing import Any

from chronos_core.domain.model import Model
from chronos_core.domain.training_job import TrainingJob
from chronos_core.ml.baselines import baseline_label

METRIC_NAMES = ("mae", "rmse", "mse", "r2", "smape", "mape", "mase", "theil_u2")
#: Significant digits of the numbers shown to people (the job document keeps full precision).
DIGITS = 4
#: Horizon steps listed one by one in the markdown summary (longer horizons are sampled).
MAX_STEP_ROWS = 24


def rounded(value: Any, digits: int = DIGITS) -> Any:
    """``value`` with floats rounded to ``digits`` significant digits (recursively)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: rounded(inner, digits) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(inner, digits) for inner in value]
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{DIGITS}g}"
    return str(value)


def _metrics(job: TrainingJob) -> dict[str, Any]:
    return job.metrics.model_dump() if job.metrics else {}


def metrics_table(job: TrainingJob) -> list[dict[str, Any]]:
    """One row per forecaster (the model, then each baseline) with its backtest errors and, for
    a baseline, the model's skill against it (``1 - model MAE / baseline MAE``)."""
    metrics = _metrics(job)
    skills = (metrics.get("backtest") or {}).get("skill_by_baseline") or {}
    rows = [
        {
            "forecaster": "model",
            **{name: rounded(metrics.get(name)) for name in METRIC_NAMES},
            "model skill vs this": None,
        }
    ]
    for name, values in (metrics.get("baselines") or {}).items():
        rows.append(
            {
                "forecaster": baseline_label(name),
                **{m: rounded(values.get(m)) for m in METRIC_NAMES},
                "model skill vs this": rounded(skills.get(name)),
            }
        )
    return rows


def verdict(job: TrainingJob) -> str:
    """The backtest's verdict: the best forecaster and the margin."""
    if job.metrics is None:
        return "No metrics: the job did not complete."
    metrics = job.metrics.model_dump()
    stored = (metrics.get("backtest") or {}).get("verdict")
    if stored:
        return str(stored)
    # Jobs trained before the rolling-origin backtest.
    skill = metrics.get("skill")
    best = baseline_label(str(metrics.get("best_baseline")))
    if skill is None:
        return f"Skill is undefined: the best baseline ({best}) is perfect on the test windows."
    if skill > 0:
        return f"The model beats every baseline: {skill:.1%} lower MAE than {best}."
    return f"The model does NOT beat {best}: its MAE is {-skill:.1%} higher."


def per_step_rows(job: TrainingJob) -> list[dict[str, Any]]:
    """MAE per horizon step of the model and each baseline (rounded)."""
    backtest = _metrics(job).get("backtest") or {}
    model = (backtest.get("model") or {}).get("per_step_mae") or []
    baselines = {
        name: values.get("per_step_mae") or []
        for name, values in (backtest.get("baselines") or {}).items()
    }
    rows = []
    for index, value in enumerate(model):
        row = {"step": index + 1, "model": rounded(value)}
        for name, steps in baselines.items():
            row[name] = rounded(steps[index]) if index < len(steps) else None
        rows.append(row)
    return rows


def intervals_rows(job: TrainingJob) -> list[dict[str, Any]]:
    """Nominal level against empirical coverage on the test origins, per level."""
    intervals = _metrics(job).get("intervals") or {}
    coverage = intervals.get("coverage") or {}
    return [
        {
            "level": f"{level} %",
            "bounds": f"lower{level} / upper{level}",
            "test coverage": None
            if coverage.get(str(level)) is None
            else f"{100 * coverage[str(level)]:.1f} %",
        }
        for level in intervals.get("levels") or []
    ]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_fmt(row.get(name)) for name in names) + " |" for row in rows]
    return lines


def _collection_losses(job: TrainingJob) -> str:
    """Why fewer points were collected than requested, when they were."""
    duplicates = sum(chunk.duplicate_timestamps for chunk in job.data_collection_jobs)
    dropped = sum(chunk.dropped_values for chunk in job.data_collection_jobs)
    reasons = []
    if duplicates:
        reasons.append(
            f"{duplicates} point(s) shared a timestamp with another and were merged into it "
            "(the later value kept)"
        )
    if dropped:
        reasons.append(f"{dropped} value(s) were not numbers or had no time and were dropped")
    return f"; {'; '.join(reasons)}" if reasons else ""


def seasons_text(seasons: list[dict[str, Any]]) -> str:
    """``day (48 points, strength 0.91), week (336 points, 0.62)`` or ``none``."""
    if not seasons:
        return "none"
    return ", ".join(
        f"{season['name']} ({season['steps']} points, strength {season['strength']:.2f})"
        for season in seasons
    )


def anchor_text(network_inputs: dict[str, Any] | None) -> str:
    if not network_inputs or network_inputs.get("anchor_season_steps") is None:
        return "the last observed value"
    return (
        f"the value one season ({network_inputs['anchor_season_steps']} points) earlier, "
        f"reading the newest {network_inputs.get('recent_steps')} points"
    )


def summary_markdown(job: TrainingJob, model: Model) -> str:
    metrics = _metrics(job)
    backtest = metrics.get("backtest") or {}
    intervals = metrics.get("intervals") or {}
    header = "| forecaster | " + " | ".join(METRIC_NAMES) + " | model skill vs this |"
    rule = "|" + "---|" * (len(METRIC_NAMES) + 2)
    lines = [
        f"# Training job `{job.id}`",
        "",
        f"Model **{model.name}** (`{model.id}`), {model.model_type.label}, "
        f"{model.entity_type} `{model.entity_id}` · `{model.feature}`",
        "",
        f"**{verdict(job)}**",
        "",
        f"- points collected: {job.total_data_points_collected} of "
        f"{job.total_data_points_requested} requested (last_n={job.last_n})"
        + _collection_losses(job),
        f"- sampling interval: {job.sampling_interval_seconds} s; lookback "
        f"{job.lookback_window_used or model.lookback_window}"
        f"{' (chosen from the data)' if model.lookback_window is None else ''}, horizon "
        f"{model.forecast_horizon}",
        f"- seasons detected: {seasons_text(job.seasons)}; the network forecasts the residual "
        f"over {anchor_text(job.network_inputs)}",
        f"- best epoch: {_fmt(job.metrics.best_epoch if job.metrics else None)}; "
        f"best validation loss: {_fmt(job.metrics.best_val_loss if job.metrics else None)}",
        f"- training time: {_fmt(job.training_duration_seconds)} s; "
        f"total: {_fmt(job.total_duration_seconds)} s",
    ]
    if backtest:
        lines.append(
            f"- backtest: {backtest.get('origins')} test origins (stride "
            f"{backtest.get('stride')} over {backtest.get('test_windows')} test windows); best "
            f"forecaster: {backtest.get('best_forecaster')}; skill against the best baseline "
            f"({backtest.get('best_baseline')}): {_fmt(rounded(backtest.get('skill')))}"
        )
        seasons = backtest.get("seasons") or []
        lines.append(
            "- detected seasons: "
            + (", ".join(f"{s.get('name')} ({s.get('steps')} points)" for s in seasons) or "none")
        )
    lines += ["", header, rule]
    for row in metrics_table(job):
        cells = " | ".join(_fmt(row[name]) for name in METRIC_NAMES)
        lines.append(f"| {row['forecaster']} | {cells} | {_fmt(row['model skill vs this'])} |")
    skipped = metrics.get("skipped_baselines") or {}
    if skipped:
        lines += ["", "Baselines not computed:"]
        lines += [f"- `{name}`: {reason}" for name, reason in sorted(skipped.items())]
    steps = per_step_rows(job)
    if steps:
        shown = steps if len(steps) <= MAX_STEP_ROWS else steps[:: -(-len(steps) // MAX_STEP_ROWS)]
        lines += ["", "MAE per horizon step (backtest):", "", *_table(shown)]
    if intervals:
        lines += [
            "",
            f"Prediction intervals: {intervals.get('method')}, calibrated on "
            f"{intervals.get('calibration_windows')} validation windows; coverage measured on "
            "the test origins:",
            "",
            *_table(intervals_rows(job)),
        ]
    lines += [
        "",
        "Errors are on the test origins of the rolling-origin backtest, in the attribute's "
        "units, over every horizon step; every forecaster is scored on the same origins. The "
        "loss curve and the test forecasts are PNGs in the job's metadata artifact (shown "
        "below when the job's plots could be read).",
    ]
    return "\n".join(lines)
