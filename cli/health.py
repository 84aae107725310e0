"""``chronos health``: can Chronos reach MongoDB and the FIWARE services?"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cli.output import print_json, print_table

#: Exit codes, as monitoring plugins use them.
EXIT_UP, EXIT_DEGRADED, EXIT_DOWN = 0, 1, 2


def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Check MongoDB, STH-Comet, Orion and the IoT Agent.

    Also checks the Prefect API when PREFECT_API_URL is set. Exit code: 0 up, 1 degraded,
    2 down.
    """
    from chronos_core.services.health import (
        ServiceStatus,
        build_report,
        check_fiware_services,
        check_http_service,
        check_mongodb,
    )
    from cli.context import load_settings

    settings = load_settings()
    checks = [check_mongodb(settings), *check_fiware_services(settings)]
    api_url = os.environ.get("PREFECT_API_URL")
    if api_url:
        checks.append(check_http_service("prefect-api", api_url.rstrip("/"), ("/health",)))
    report = build_report(checks)
    if as_json:
        print_json(report)
    else:
        print_table(
            report.rows(),
            {
                "service": "Service",
                "status": "Status",
                "latency_ms": "Latency (ms)",
                "version": "Version",
                "target": "Target",
                "detail": "Detail",
            },
            title=f"Chronos health: {report.status.value}",
        )
    code = {
        ServiceStatus.UP: EXIT_UP,
        ServiceStatus.DEGRADED: EXIT_DEGRADED,
        ServiceStatus.DOWN: EXIT_DOWN,
    }[report.status]
    raise typer.Exit(code)
