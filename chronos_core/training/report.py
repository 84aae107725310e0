"""Human-readable summaries of a finished training job: the model against its baselines."""

from __future__ import annotations

from typing import Any

from chronos_core.domain.model import Model
from chronos_core.domain.training_job import TrainingJob

METRIC_NAMES = ("mae", "rmse", "mse", "r2", "smape", "mape", "mase", "theil_u2")
BASELINE_LABELS = {"naive": "naive (repeat last value)", "seasonal_naive": "seasonal naive"}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metrics_table(job: TrainingJob) -> list[dict[str, Any]]:
    """One row per forecaster (the model, then each baseline) with the test-set errors."""
    metrics = job.metrics.model_dump() if job.metrics else {}
    rows = [{"forecaster": "model", **{name: metrics.get(name) for name in METRIC_NAMES}}]
    for name, values in (metrics.get("baselines") or {}).items():
        label = BASELINE_LABELS.get(name, name)
        rows.append({"forecaster": label, **{m: values.get(m) for m in METRIC_NAMES}})
    return rows


def verdict(job: TrainingJob) -> str:
    """One sentence: does the model beat repeating the last value?"""
    if job.metrics is None:
        return "No metrics: the job did not complete."
    metrics = job.metrics.model_dump()
    skill = metrics.get("skill")
    best = BASELINE_LABELS.get(str(metrics.get("best_baseline")), metrics.get("best_baseline"))
    if skill is None:
        return f"Skill is undefined: the best baseline ({best}) is perfect on the test windows."
    if skill > 0:
        return f"The model beats every baseline: {skill:.1%} lower MAE than {best}."
    return (
        f"The model does NOT beat {best}: its MAE is {-skill:.1%} higher. "
        "Consider more data, a longer lookback or a different architecture."
    )


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
    rows = metrics_table(job)
    header = "| forecaster | " + " | ".join(METRIC_NAMES) + " |"
    rule = "|" + "---|" * (len(METRIC_NAMES) + 1)
    lines = [
        f"# Training job `{job.id}`",
        "",
        f"Model **{model.name}** (`{model.id}`), {model.model_type.label}, "
        f"{model.entity_type} `{model.entity_id}` · `{model.feature}`",
        "",
        f"**{verdict(job)}**",
        "",
        f"- points collected: {job.total_data_points_collected} of "
        f"{job.total_data_points_requested} requested (last_n={job.last_n})",
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
        "",
        header,
        rule,
    ]
    for row in rows:
        cells = " | ".join(_fmt(row[name]) for name in METRIC_NAMES)
        lines.append(f"| {row['forecaster']} | {cells} |")
    lines += [
        "",
        "Errors are on the test part, in the attribute's units, over every horizon step. "
        "The loss curve and the test forecasts are PNGs in the job's metadata artifact.",
    ]
    return "\n".join(lines)
