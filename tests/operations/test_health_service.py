"""chronos_core.services.health against the real test database and the FIWARE sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from chronos_core.services.health import (
    IOT_AGENT,
    MONGODB,
    ORION,
    STH_COMET,
    HealthReport,
    ServiceCheck,
    ServiceStatus,
    build_report,
    check_fiware_services,
    check_http_service,
    check_mongodb,
    overall_status,
)
from chronos_core.settings import Settings, get_settings
from fiware_sandbox import Fault

UP, DEGRADED, DOWN = ServiceStatus.UP, ServiceStatus.DEGRADED, ServiceStatus.DOWN


def check_health(settings: Settings, **timeout: float) -> HealthReport:
    """What chronos-health reports: the database, then every FIWARE service."""
    checks = [check_mongodb(settings, **timeout), *check_fiware_services(settings, **timeout)]
    return build_report(checks)


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_everything_up(fiware: Any) -> None:
    report = check_health(get_settings())
    assert report.status is UP
    assert [check.name for check in report.services] == [MONGODB, STH_COMET, ORION, IOT_AGENT]
    assert all(check.status is UP for check in report.services)
    assert all(check.latency_ms is not None and check.latency_ms >= 0 for check in report.services)
    assert report.service(ORION).version == "3.10.1"
    assert report.service(IOT_AGENT).version == "4.14.0"
    assert report.service(STH_COMET).target.endswith("/version")


def test_one_fiware_service_down_is_degraded(fiware: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONOS_ORION_URL", _closed_port_url())
    get_settings.cache_clear()
    report = check_health(get_settings())
    assert report.status is DEGRADED
    orion = report.service(ORION)
    assert orion.status is DOWN and orion.detail == "connection refused or host unreachable"
    assert report.service(STH_COMET).status is UP


def test_server_errors_and_client_errors(fiware: Any) -> None:
    fiware.sth.inject_faults(Fault.server_error(503))
    fiware.iot_agent.inject_faults(Fault.server_error(429), Fault.server_error(429))
    report = check_health(get_settings())
    assert report.service(STH_COMET).status is DOWN
    assert report.service(STH_COMET).detail == "HTTP 503"
    # 4xx on both probe paths: reachable but unhappy.
    assert report.service(IOT_AGENT).status is DEGRADED
    assert report.status is DEGRADED


def test_a_slow_service_times_out(fiware: Any) -> None:
    fiware.orion.inject_faults(Fault.delay(2.0))
    check = check_http_service(ORION, fiware.orion_url, ("/version",), timeout_seconds=0.3)
    assert check.status is DOWN and check.detail == "timed out"


def test_database_down_is_down(fiware: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONOS_MONGODB_URI", _closed_port_url().replace("http", "mongodb"))
    get_settings.cache_clear()
    report = check_health(get_settings(), timeout_seconds=0.5)
    assert report.service(MONGODB).status is DOWN
    assert report.status is DOWN
    assert "mongodb://" in report.service(MONGODB).target


def test_all_fiware_down_is_down(settings: Settings) -> None:
    closed = _closed_port_url()
    offline = settings.model_copy(
        update={"sth_url": closed, "orion_url": closed, "iot_agent_url": closed}
    )
    report = check_health(offline)
    assert report.service(MONGODB).status is UP
    assert report.status is DOWN


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({MONGODB: UP, STH_COMET: UP, ORION: UP, IOT_AGENT: UP}, UP),
        ({MONGODB: UP, STH_COMET: UP, ORION: DEGRADED, IOT_AGENT: UP}, DEGRADED),
        ({MONGODB: UP, STH_COMET: DOWN, ORION: UP, IOT_AGENT: UP}, DEGRADED),
        ({MONGODB: DOWN, STH_COMET: UP, ORION: UP, IOT_AGENT: UP}, DOWN),
        ({MONGODB: UP, STH_COMET: DOWN, ORION: DOWN, IOT_AGENT: DOWN}, DOWN),
        ({MONGODB: UP, STH_COMET: UP, ORION: UP, IOT_AGENT: UP, "prefect-api": DOWN}, DEGRADED),
        ({}, DOWN),
    ],
)
def test_overall_status(statuses: dict[str, ServiceStatus], expected: ServiceStatus) -> None:
    checks = [
        ServiceCheck(name=name, status=status, target="x") for name, status in statuses.items()
    ]
    assert overall_status(checks) is expected


def test_auth_token_is_sent_but_never_reported(
    fiware: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHRONOS_FIWARE_AUTH_TOKEN", "s3cret-token")
    get_settings.cache_clear()
    report = check_health(get_settings())
    assert "s3cret-token" not in report.model_dump_json()
