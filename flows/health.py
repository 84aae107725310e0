"""The ``chronos-health`` flow: can Chronos reach everything it needs?"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from chronos_core.services.health import ServiceStatus, build_report
from flows.failures import one_line_failures
from tasks.health import check_fiware_services_task, check_mongodb_task

HEALTH_ARTIFACT_KEY = "chronos-health"


@flow(name="chronos-health", description="Check MongoDB, STH-Comet, Orion and the IoT Agent.")
@one_line_failures
def chronos_health() -> dict[str, Any]:
    """Check every service Chronos depends on; publish a table artifact; return the report.

    The overall status is ``up``, ``degraded`` (something is unreachable or unhappy but Chronos
    can still do part of its work) or ``down`` (MongoDB, or every FIWARE service, is down).
    """
    database = check_mongodb_task.submit()
    fiware = check_fiware_services_task.submit()
    report = build_report([database.result(), *fiware.result()])
    create_table_artifact(
        table=report.rows(),
        key=HEALTH_ARTIFACT_KEY,
        description=f"Chronos health: **{report.status.value}**",
    )
    logger = get_run_logger()
    message = f"Chronos health: {report.status.value}"
    if report.status is ServiceStatus.UP:
        logger.info(message)
    elif report.status is ServiceStatus.DEGRADED:
        logger.warning(message)
    else:
        logger.error(message)
    return report.model_dump(mode="json")
