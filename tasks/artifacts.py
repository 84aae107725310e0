"""Artifacts a person reads in the Prefect UI: the model, the training job, the forecast.

Plain functions (not tasks) called from flows and tasks: each creates artifacts of the current
run under the keys of :mod:`chronos_core.services.summaries`, so the latest version of
``model-<id>`` always lists the model's jobs and forecasts. An artifact that cannot be written
is logged as a warning and never fails the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prefect import get_run_logger

from chronos_core.services import summaries
from chronos_core.storage.database import get_database
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository

log = logging.getLogger(__name__)


def _best_effort(what: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as error:
        get_run_logger().warning("could not write the %s artifact: %s", what, error)


def publish_model_artifact(model_id: str) -> None:
    """``model-<id>``: what the model forecasts, its jobs and latest forecast, the next step."""
    from prefect.artifacts import create_markdown_artifact

    def write() -> None:
        db = get_database()
        model = ModelRepository(db).get(model_id)
        jobs = TrainingJobRepository(db).list_for_model(model_id, limit=summaries.JOBS_LISTED)
        forecasts = ForecastRepository(db).list_for_model(model_id, limit=1)
        create_markdown_artifact(
            markdown=summaries.model_markdown(model, jobs, forecasts[0] if forecasts else None),
            key=summaries.model_key(model_id),
            description=f"Model {model.name}: {model.entity_id} · {model.feature}",
        )

    _best_effort("model", write)


def publish_model_deleted(model_id: str) -> None:
    """A last version of ``model-<id>`` saying the model is gone (its older versions stay)."""
    from prefect.artifacts import create_markdown_artifact

    def write() -> None:
        create_markdown_artifact(
            markdown=f"# Model `{model_id}`\n\n**Deleted**, with its training jobs and files.",
            key=summaries.model_key(model_id),
            description="Deleted",
        )

    _best_effort("model", write)


def publish_training_started(job_id: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    def write() -> None:
        db = get_database()
        job = TrainingJobRepository(db).get(job_id)
        model = ModelRepository(db).get(job.model_id)
        create_markdown_artifact(
            markdown=summaries.training_started_markdown(job, model),
            key=summaries.training_key(job_id),
            description=f"Training job of model {model.name}",
        )
        publish_model_artifact(model.id)

    _best_effort("training job", write)


def publish_training_ended(job_id: str, message: str) -> None:
    """A failed or cancelled job: the reason, in place of the report."""
    from prefect.artifacts import create_markdown_artifact

    def write() -> None:
        model_id = _model_of(job_id)
        create_markdown_artifact(
            markdown=summaries.training_failed_markdown(job_id, model_id, message),
            key=summaries.training_key(job_id),
            description=message[:500],
        )
        publish_model_artifact(model_id)

    _best_effort("training job", write)


def training_plots_markdown(job_id: str) -> str:
    """The report's charts (test forecasts, loss curve) as markdown; ``""`` when none."""
    db = get_database()
    job = TrainingJobRepository(db).get(job_id)
    plots = summaries.stored_training_plots(db, job)
    return summaries.training_plots_markdown(plots, job) if plots else ""


def publish_forecast_artifacts(forecast_id: str) -> None:
    """``forecast-<model id>`` (a table per step) and ``forecast-plot-<model id>`` (a chart)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    def write() -> None:
        record = ForecastRepository(get_database()).get(forecast_id)
        create_table_artifact(
            table=summaries.forecast_rows(record),
            key=summaries.forecast_key(record.model_id),
            description=summaries.forecast_description(record),
        )
        create_markdown_artifact(
            markdown=summaries.forecast_markdown(record, summaries.forecast_chart(record)),
            key=summaries.forecast_plot_key(record.model_id),
            description=f"Forecast of {record.entity_id} · {record.feature}",
        )
        publish_model_artifact(record.model_id)

    _best_effort("forecast", write)


def _model_of(job_id: str) -> str:
    return TrainingJobRepository(get_database()).get(job_id).model_id
