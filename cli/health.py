"""``chronos health``: can Chronos reach MongoDB and the FIWARE services?"""

from __future__ import annotations

import os

import typer

from cli.output import JsonOption, print_json, print_table


def health(as_json: JsonOption = False) -> None:
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
                "Service": "service",
                "Status": "status",
                "Latency (ms)": "latency_ms",
                "Version": "version",
                "Target": "target",
                "Detail": "detail",
            },
            title=f"Chronos health: {report.status.value}",
        )
    # The exit codes of monitoring plugins.
    codes = {ServiceStatus.UP: 0, ServiceStatus.DEGRADED: 1, ServiceStatus.DOWN: 2}
    raise typer.Exit(codes[report.status])
