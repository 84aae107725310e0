"""What a person reads about a model, a training job and a forecast (markdown and table rows).

The Prefect tasks publish these as artifacts under stable keys, so a UI-only user finds the ids
and goes from a model to its jobs and forecasts without copying ids from logs:

- ``model-<model id>``: what the model forecasts, its jobs and latest forecast, the next step;
- ``training-<job id>``: the training job (started, failed, or its report with the plots);
- ``forecast-<model id>``: the model's latest forecast as a table (earlier ones are versions);
- ``forecast-plot-<model id>``: history and forecast as a chart.

Charts are PNGs embedded as ``data:`` URIs (the Prefect UI renders them in markdown).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from chronos_core.domain.enums import TrainingStatus
from chronos_core.domain.forecast import ForecastRecord
from chronos_core.domain.model import Model
from chronos_core.domain.training_job import TrainingJob
from chronos_core.fiware.ngsi import format_datetime

#: Interval bounds a forecast point may carry (``lower80``, ``upper95``, ...).
INTERVAL_FIELD = re.compile(r"^(lower|upper)(\d{1,2})$")
#: How many of a model's jobs its artifact lists.
JOBS_LISTED = 10


def model_key(model_id: str) -> str:
    return f"model-{model_id}"


def training_key(job_id: str) -> str:
    return f"training-{job_id}"


def forecast_key(model_id: str) -> str:
    return f"forecast-{model_id}"


def forecast_plot_key(model_id: str) -> str:
    return f"forecast-plot-{model_id}"


def artifact_link(key: str, text: str | None = None) -> str:
    """A markdown link to the artifact's page in the Prefect UI (``/artifacts/key/<key>``)."""
    return f"[{text or key}](/artifacts/key/{key})"


def png_markdown(png: bytes, alt: str) -> str:
    """An image in markdown, inline as a ``data:`` URI."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def round_for_people(value: Any, digits: int = 4) -> Any:
    """Floats to ``digits`` significant digits (tables for people; stored values stay full)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value


def rounded_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: round_for_people(value) for key, value in row.items()} for row in rows]


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else format_datetime(moment)


def _what(model: Model) -> str:
    return (
        f"`{model.feature}` of {model.entity_type} `{model.entity_id}` "
        f"(service `{model.service}`, path `{model.service_path}`)"
    )


def model_markdown(
    model: Model, jobs: Sequence[TrainingJob], latest: ForecastRecord | None = None
) -> str:
    """The model's page: id, what it forecasts, its jobs and forecasts, the next step."""
    layers = ", ".join(str(layer.units) for layer in model.rnn_layers)
    lines = [
        f"# Model `{model.id}`",
        "",
        f"**{model.name}** forecasts {_what(model)}: {model.forecast_horizon} point(s) ahead "
        f"from the last {model.lookback_window}, with a {model.model_type.label} network "
        f"({len(model.rnn_layers)} recurrent layer(s) of {layers} units).",
        "",
        f"- status: **{model.status.value}**",
        f"- model id: `{model.id}`",
        "",
        "## Next step",
        "",
        _next_step(model, jobs),
        "",
        "## Training jobs",
        "",
    ]
    if not jobs:
        lines.append("None yet.")
    else:
        lines += ["| job | status | created | test MAE | artifact |", "|---|---|---|---|---|"]
        for job in jobs[:JOBS_LISTED]:
            mae = job.metrics.mae if job.metrics else None
            lines.append(
                f"| `{job.id}` | {job.status.value} | {_when(job.created_at)} | "
                f"{'—' if mae is None else f'{mae:.4g}'} | "
                f"{artifact_link(training_key(job.id), 'report')} |"
            )
    lines += ["", "## Forecasts", ""]
    if latest is None:
        lines.append("None yet.")
    else:
        lines.append(
            f"Latest: issued {_when(latest.issued_at)} with job `{latest.training_job_id}` — "
            f"{artifact_link(forecast_key(model.id), 'table')}, "
            f"{artifact_link(forecast_plot_key(model.id), 'chart')}."
        )
    return "\n".join(lines)


def _next_step(model: Model, jobs: Sequence[TrainingJob]) -> str:
    completed = [job for job in jobs if job.status is TrainingStatus.COMPLETED]
    if completed:
        job = completed[0]
        return (
            f"Forecast with the **forecast** deployment (Model id `{model.id}`), or turn on "
            f"recurring forecasts with **enable-forecasts** (Training job id `{job.id}`)."
        )
    if any(job.status.is_active for job in jobs):
        return "A training job is running; its report appears under Training jobs below."
    return (
        f"Train it: run the **train-model** deployment with Model id `{model.id}` "
        f"(or `chronos train {model.id}`)."
    )


def training_started_markdown(job: TrainingJob, model: Model) -> str:
    return "\n".join(
        [
            f"# Training job `{job.id}`",
            "",
            f"**{job.status.value}**: training model {artifact_link(model_key(model.id))} on "
            f"the newest {job.last_n} points of {_what(model)}.",
            "",
            f"- training job id: `{job.id}` (cancel it with the **cancel-training** deployment)",
            "- this artifact is replaced by the report when the job ends",
        ]
    )


def training_failed_markdown(job_id: str, model_id: str | None, message: str) -> str:
    model = artifact_link(model_key(model_id)) if model_id else "its model"
    return "\n".join(
        [
            f"# Training job `{job_id}`",
            "",
            f"**failed**: {message}",
            "",
            f"Model: {model}. The model keeps its previous status; fix the cause and run "
            "**train-model** again.",
        ]
    )


def training_plots_markdown(plots: dict[str, bytes], job: TrainingJob) -> str:
    """The job's charts (``loss_curve``, ``test_forecasts``) under headings."""
    titles = {
        "test_forecasts": "Test forecasts against the actual values",
        "loss_curve": "Loss curve (training and validation)",
    }
    lines = [f"## Plots of training job `{job.id}`"]
    for name, title in titles.items():
        if name in plots:
            lines += ["", f"### {title}", "", png_markdown(plots[name], title)]
    return "\n".join(lines)


def interval_levels(points: Sequence[dict[str, Any]]) -> list[int]:
    """The interval levels (80, 95, ...) every point carries both bounds of."""
    if not points:
        return []
    levels: set[int] | None = None
    for point in points:
        found = {int(match.group(2)) for key in point if (match := INTERVAL_FIELD.match(key))}
        both = {level for level in found if f"lower{level}" in point and f"upper{level}" in point}
        levels = both if levels is None else levels & both
    return sorted(levels or ())


def forecast_rows(record: ForecastRecord) -> list[dict[str, Any]]:
    """One row per step: time, value and any prediction-interval bounds."""
    return point_rows([point.model_dump() for point in record.points])


def point_rows(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for forecast points given as dicts (``step``, ``target_timestamp``, ``value`` and
    optional ``lowerNN``/``upperNN`` bounds, rendered as columns when every point has them)."""
    levels = interval_levels(points)
    rows = []
    for point in points:
        row: dict[str, Any] = {
            "step": point["step"],
            "target_timestamp": _timestamp(point["target_timestamp"]),
            "value": round_for_people(float(point["value"]), 6),
        }
        for level in levels:
            for side in ("lower", "upper"):
                bound = point.get(f"{side}{level}")
                row[f"{side}{level}"] = None if bound is None else round_for_people(bound, 6)
        rows.append(row)
    return rows


def _timestamp(value: Any) -> str:
    return format_datetime(value) if isinstance(value, datetime) else str(value)


def forecast_description(record: ForecastRecord) -> str:
    return (
        f"Forecast `{record.id}` of `{record.feature}` for {record.entity_type} "
        f"`{record.entity_id}`: {record.forecast_horizon} step(s) of "
        f"{record.sampling_interval_seconds} s after {_when(record.last_observed_at)}; model "
        f"{artifact_link(model_key(record.model_id))}, training job "
        f"{artifact_link(training_key(record.training_job_id))}; publication: "
        f"{record.publication.status.value}"
    )


def forecast_markdown(record: ForecastRecord, png: bytes | None) -> str:
    lines = [
        f"# Forecast of {record.entity_id} · {record.feature}",
        "",
        forecast_description(record),
    ]
    if png is not None:
        lines += ["", png_markdown(png, "history and forecast")]
    lines += ["", f"Values: {artifact_link(forecast_key(record.model_id), 'forecast table')}."]
    return "\n".join(lines)


def forecast_chart(record: ForecastRecord) -> bytes | None:
    """The input window (the newest history) followed by the forecast."""
    from chronos_core.ml.plotting import forecast_png

    context = record.context_window()
    points = record.points
    if not points:
        return None
    import numpy as np

    return forecast_png(
        np.array([point["timestamp"] for point in context], dtype=object),
        np.array([point["value"] for point in context], dtype=np.float64),
        np.array([point.target_timestamp for point in points], dtype=object),
        np.array([point.value for point in points], dtype=np.float64),
        title=f"{record.entity_id} · {record.feature}: input window and forecast",
    )


def stored_training_plots(db: Any, job: TrainingJob) -> dict[str, bytes]:
    """The job's PNG charts from its metadata artifact in GridFS (empty when it has none)."""
    import json

    from chronos_core.storage.artifact_store import ArtifactStore

    if not job.metadata_artifact_id:
        return {}
    metadata = json.loads(ArtifactStore(db).download(job.metadata_artifact_id))
    plots: dict[str, bytes] = {}
    for name in ("loss_curve", "test_forecasts"):
        encoded = (metadata.get("plots") or {}).get(f"{name}_png_base64")
        if encoded:
            plots[name] = base64.b64decode(encoded)
    return plots
