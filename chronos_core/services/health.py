"""Is Chronos able to work? Reachability and latency of MongoDB and the FIWARE services.

The FIWARE services checked follow ``CHRONOS_NGSI_FLAVOUR``: STH-Comet, Orion and the IoT Agent
(``v2``), or the NGSI-LD broker, the NGSI-LD temporal API and the IoT Agent (``ld``). A temporal
URL that answers 501 (Orion-LD's "please use Mintaka") is reported down as the misconfiguration
:data:`TEMPORAL_API_MISCONFIGURED`, naming ``CHRONOS_NGSI_LD_TEMPORAL_URL``.

Each check answers ``up``, ``degraded`` (reachable but unhappy: a 4xx, e.g. a rejected token) or
``down`` (unreachable, timed out, or a 5xx). The overall status is:

- ``down`` when MongoDB is down (nothing in Chronos works without it) or every FIWARE service is;
- ``degraded`` when anything else is not up (e.g. Orion down: training works, publishing does not);
- ``up`` when everything is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from chronos_core.clock import utc_now
from chronos_core.settings import Settings

#: Checks never wait longer than this, whatever ``http_timeout_seconds`` says.
MAX_CHECK_TIMEOUT_SECONDS = 5.0

MONGODB = "mongodb"
STH_COMET = "sth-comet"
ORION = "orion"
IOT_AGENT = "iot-agent"
ORION_LD = "orion-ld"
NGSI_LD_TEMPORAL = "ngsi-ld-temporal"
FIWARE_SERVICES = frozenset({STH_COMET, ORION, IOT_AGENT, ORION_LD, NGSI_LD_TEMPORAL})

#: The temporal probe reads one instance of an entity that does not exist: a temporal API
#: answers 404 (or 200), a broker without one 501.
TEMPORAL_PROBE_ENTITY = "urn:ngsi-ld:Chronos:health-probe"
#: The name of the misconfiguration reported when the temporal URL answers 501.
TEMPORAL_API_MISCONFIGURED = "misconfigured: no NGSI-LD temporal API"

#: Paths tried in order for each FIWARE service; the first answer that is not ``down`` wins.
PROBE_PATHS: Mapping[str, tuple[str, ...]] = {
    STH_COMET: ("/version",),
    ORION: ("/version",),
    IOT_AGENT: ("/iot/about", "/version"),
    ORION_LD: ("/version",),
    NGSI_LD_TEMPORAL: (f"/ngsi-ld/v1/temporal/entities/{TEMPORAL_PROBE_ENTITY}?lastN=1",),
}


class ServiceStatus(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


#: Classifies a response: (status, detail), or None for the default (4xx degraded, 5xx down).
Classifier = Callable[[httpx.Response], tuple[ServiceStatus, str] | None]


class ServiceCheck(BaseModel):
    """The outcome of one check."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: ServiceStatus
    target: str = Field(description="What was contacted (a URL, or the database name).")
    latency_ms: float | None = Field(default=None, description="Round trip of the last attempt.")
    version: str | None = None
    detail: str = ""


class HealthReport(BaseModel):
    """Every check plus the overall status."""

    model_config = ConfigDict(frozen=True)

    status: ServiceStatus
    checked_at: datetime
    services: list[ServiceCheck]

    def service(self, name: str) -> ServiceCheck:
        for check in self.services:
            if check.name == name:
                return check
        raise KeyError(name)

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per service (for tables)."""
        return [
            {
                "service": check.name,
                "status": check.status.value,
                "latency_ms": check.latency_ms,
                "version": check.version or "",
                "target": check.target,
                "detail": check.detail,
            }
            for check in self.services
        ]


def overall_status(checks: Iterable[ServiceCheck]) -> ServiceStatus:
    """Aggregate individual checks (see the module docstring)."""
    checks = list(checks)
    if not checks:
        return ServiceStatus.DOWN
    by_name = {check.name: check.status for check in checks}
    if by_name.get(MONGODB) is ServiceStatus.DOWN:
        return ServiceStatus.DOWN
    fiware = [status for name, status in by_name.items() if name in FIWARE_SERVICES]
    if fiware and all(status is ServiceStatus.DOWN for status in fiware):
        return ServiceStatus.DOWN
    if all(status is ServiceStatus.UP for status in by_name.values()):
        return ServiceStatus.UP
    return ServiceStatus.DEGRADED


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)


def _version_from(name: str, body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    if name == ORION and isinstance(body.get("orion"), dict):
        version = body["orion"].get("version")
    elif name == ORION_LD:
        version = body.get("orionld version") or body.get("version")
    elif name == IOT_AGENT:
        version = body.get("libVersion") or body.get("version")
    else:
        version = body.get("version")
    return str(version) if version is not None else None


def _describe_error(error: Exception) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if isinstance(error, httpx.ConnectError):
        return "connection refused or host unreachable"
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def _down(name: str, target: str, started: float, error: Exception) -> ServiceCheck:
    return ServiceCheck(
        name=name,
        status=ServiceStatus.DOWN,
        target=target,
        latency_ms=_elapsed_ms(started),
        detail=_describe_error(error),
    )


def check_http_service(
    name: str,
    base_url: str,
    paths: Sequence[str],
    *,
    timeout_seconds: float = MAX_CHECK_TIMEOUT_SECONDS,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    classify: Classifier | None = None,
) -> ServiceCheck:
    """GET ``paths`` on ``base_url`` in turn; 2xx/3xx is up, 4xx degraded, 5xx or no answer down
    (``classify`` may decide otherwise for a response)."""
    result: ServiceCheck | None = None
    timeout = httpx.Timeout(min(timeout_seconds, MAX_CHECK_TIMEOUT_SECONDS))
    with httpx.Client(
        base_url=base_url, timeout=timeout, headers=dict(headers or {}), transport=transport
    ) as client:
        for path in paths:
            target = f"{base_url}{path}"
            started = time.perf_counter()
            try:
                response = client.get(path)
            except httpx.HTTPError as error:
                result = _down(name, target, started, error)
                continue
            latency = _elapsed_ms(started)
            code = response.status_code
            default = ServiceStatus.UP if code < 400 else ServiceStatus.DEGRADED
            status, detail = (classify and classify(response)) or (
                ServiceStatus.DOWN if code >= 500 else default,
                f"HTTP {code}",
            )
            try:
                body: Any = response.json()
            except ValueError:
                body = None
            result = ServiceCheck(
                name=name,
                status=status,
                target=target,
                latency_ms=latency,
                version=_version_from(name, body),
                detail=detail,
            )
            if status is not ServiceStatus.DOWN:
                break
    assert result is not None, "at least one probe path is required"
    return result


def check_mongodb(
    settings: Settings, *, timeout_seconds: float = MAX_CHECK_TIMEOUT_SECONDS
) -> ServiceCheck:
    """Ping the configured database (or the embedded one) with a short timeout; any error means
    down."""
    from pymongo import MongoClient

    from chronos_core.storage.database import database_uri, redact_uri

    target = settings.mongodb_database
    timeout_ms = max(1, int(min(timeout_seconds, MAX_CHECK_TIMEOUT_SECONDS) * 1000))
    started = time.perf_counter()
    try:
        uri = database_uri(settings)
        target = f"{redact_uri(uri)} (database {settings.mongodb_database})"
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            appname="chronos-health",
        )
        with client:
            started = time.perf_counter()
            client[settings.mongodb_database].command("ping")
    except Exception as error:
        return _down(MONGODB, target, started, error)
    return ServiceCheck(
        name=MONGODB,
        status=ServiceStatus.UP,
        target=target,
        latency_ms=_elapsed_ms(started),
        detail="ping ok",
    )


def fiware_headers(settings: Settings) -> dict[str, str]:
    """Headers every probe sends (the auth token, if configured; never logged)."""
    if settings.fiware_auth_token is None:
        return {}
    return {"X-Auth-Token": settings.fiware_auth_token.get_secret_value()}


def temporal_classifier(settings: Settings) -> Classifier:
    """The temporal probe's reading: a ProblemDetails 404 (the probe entity is unknown) means the
    API answers; 501 is the named misconfiguration (an NGSI-LD broker without the temporal API)."""

    def classify(response: httpx.Response) -> tuple[ServiceStatus, str] | None:
        from chronos_core.fiware.http import server_words

        code = response.status_code
        if code == 404:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and "title" in body:  # an NGSI-LD ProblemDetails
                return ServiceStatus.UP, "HTTP 404 (the probe entity is unknown: the API answers)"
            return None
        if code != 501:
            return None
        _, words = server_words(response)
        if settings.ngsi_ld_temporal_url is None:
            where = (
                "CHRONOS_NGSI_LD_TEMPORAL_URL is unset, so history is read from "
                f"CHRONOS_ORION_LD_URL ({settings.orion_ld_url}), which"
            )
        else:
            where = f"CHRONOS_NGSI_LD_TEMPORAL_URL ({settings.ngsi_ld_temporal_url})"
        return ServiceStatus.DOWN, (
            f"{TEMPORAL_API_MISCONFIGURED}: {where} answers 501 "
            f"({words or 'Not Implemented'}); set CHRONOS_NGSI_LD_TEMPORAL_URL to the "
            "temporal API (e.g. Mintaka)"
        )

    return classify


def fiware_targets(settings: Settings) -> dict[str, str]:
    """The FIWARE services of this installation's flavour, with their URLs."""
    from chronos_core.fiware.connection import service_url

    if settings.ngsi_flavour == "ld":
        return {
            ORION_LD: service_url(settings, "orion_ld"),
            NGSI_LD_TEMPORAL: service_url(settings, "ngsi_ld_temporal"),
            IOT_AGENT: service_url(settings, "iot_agent"),
        }
    return {
        STH_COMET: service_url(settings, "sth"),
        ORION: service_url(settings, "orion"),
        IOT_AGENT: service_url(settings, "iot_agent"),
    }


def check_fiware_services(
    settings: Settings,
    *,
    timeout_seconds: float = MAX_CHECK_TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> list[ServiceCheck]:
    """The FIWARE services of :func:`fiware_targets`, checked concurrently."""
    urls = fiware_targets(settings)
    classifiers = {NGSI_LD_TEMPORAL: temporal_classifier(settings)}
    headers = fiware_headers(settings)
    timeout = min(settings.http_timeout_seconds, timeout_seconds, MAX_CHECK_TIMEOUT_SECONDS)
    with ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="chronos-health") as pool:
        futures = [
            pool.submit(
                check_http_service,
                name,
                url,
                PROBE_PATHS[name],
                timeout_seconds=timeout,
                headers=headers,
                transport=transport,
                classify=classifiers.get(name),
            )
            for name, url in urls.items()
        ]
        return [future.result() for future in futures]


def build_report(checks: Iterable[ServiceCheck]) -> HealthReport:
    checks = list(checks)
    return HealthReport(status=overall_status(checks), checked_at=utc_now(), services=checks)
