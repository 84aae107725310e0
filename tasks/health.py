"""Prefect tasks for the health checks (thin wrappers over ``chronos_core.services.health``).

They run concurrently in threads, where a Prefect timeout could not interrupt a blocked call;
every check has its own short network timeout instead.
"""

from __future__ import annotations

from prefect import get_run_logger, task

from chronos_core.services.health import (
    ServiceCheck,
    ServiceStatus,
    check_fiware_services,
    check_mongodb,
)
from chronos_core.settings import get_settings


def _log(check: ServiceCheck) -> None:
    logger = get_run_logger()
    line = f"{check.name}: {check.status.value} ({check.latency_ms} ms) {check.detail}"
    if check.status is ServiceStatus.UP:
        logger.info(line)
    else:
        logger.warning(line)


@task(name="check-mongodb", tags=["health", "mongodb"])
def check_mongodb_task() -> ServiceCheck:
    """Ping MongoDB (or the embedded database)."""
    check = check_mongodb(get_settings())
    _log(check)
    return check


@task(name="check-fiware-services", tags=["health", "fiware"])
def check_fiware_services_task() -> list[ServiceCheck]:
    """Probe the FIWARE services of the NGSI flavour (v2 or ld) concurrently."""
    checks = check_fiware_services(get_settings())
    for check in checks:
        _log(check)
    return checks
