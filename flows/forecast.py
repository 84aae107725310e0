"""The ``forecast`` flow: forecast on demand with a trained model and publish it to Orion."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger

from chronos_core.errors import ChronosError
from flows.failures import one_line_failures
from flows.parameters import ModelId, OptionalTrainingJobId, titled
from tasks.artifacts import publish_forecast_artifacts
from tasks.forecasting import (
    compute_forecast_task,
    describe_forecast_task,
    publish_with_retries,
    record_publication_failure_task,
    skip_publication_task,
)


@flow(name="forecast", flow_run_name="forecast-{model_id}")
@one_line_failures
def forecast(
    model_id: ModelId,
    training_job_id: OptionalTrainingJobId = None,
    publish: Annotated[bool, titled("Publish to Orion")] = True,
) -> dict[str, Any]:
    """Forecast the model's next values from the newest STH-Comet data.

    Returns the input window used and the forecast points ``{step, value, target_timestamp}``;
    the target timestamps follow the last observation at the training's sampling interval.
    The forecast is stored before it is published, so a publication failure (retried first)
    never loses it: the result then says ``publication.status = failed`` with the error.

    Args:
        model_id: The trained model (a UUID).
        training_job_id: The completed training job to use (default: the model's latest).
        publish: Upsert the forecast entity in Orion.
    """
    logger = get_run_logger()
    forecast_id = compute_forecast_task(model_id, training_job_id)
    if not publish:
        skip_publication_task(forecast_id)
    else:
        try:
            publish_with_retries(forecast_id)
        except ChronosError as error:
            record_publication_failure_task(forecast_id, str(error)[:2000])
            logger.error("forecast %s computed but not published: %s", forecast_id, error)
    publish_forecast_artifacts(forecast_id)
    return describe_forecast_task(forecast_id)
