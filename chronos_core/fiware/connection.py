"""How Chronos reaches one FIWARE service: base URL, default tenant, token, timeout, retries.

Every client (STH-Comet, Orion, Orion-LD, the NGSI-LD temporal API, the IoT Agent) takes one
frozen :class:`FiwareConnection`; :meth:`FiwareConnection.from_settings` is the one place that
builds it from the settings (including the temporal API's fallback to the broker URL).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr
from pydantic.dataclasses import dataclass

from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings

#: The FIWARE services Chronos talks to, as named in :func:`service_url`.
ServiceKey = Literal["sth", "orion", "orion_ld", "ngsi_ld_temporal", "iot_agent"]


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first, waiting ``backoff * 2**(n-1)`` before retry n."""

    retries: int = Field(default=3, ge=0)
    backoff_seconds: float = Field(default=0.5, ge=0)
    max_backoff_seconds: float = Field(default=30.0, ge=0)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(retries=settings.http_retries, backoff_seconds=settings.http_backoff_seconds)

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based); honours Retry-After."""
        wait = min(self.backoff_seconds * (2 ** (retry_number - 1)), self.max_backoff_seconds)
        if retry_after is not None:
            wait = max(wait, min(retry_after, _MAX_RETRY_AFTER_SECONDS))
        return wait


_MAX_RETRY_AFTER_SECONDS = 60.0


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"URL must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def _given(**values: object) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def service_url(settings: Settings, service: ServiceKey) -> str:
    """The configured base URL of ``service`` (the temporal API defaults to the broker's)."""
    if service == "ngsi_ld_temporal":
        return settings.ngsi_ld_temporal_url or settings.orion_ld_url
    urls = {
        "sth": settings.sth_url,
        "orion": settings.orion_url,
        "orion_ld": settings.orion_ld_url,
        "iot_agent": settings.iot_agent_url,
    }
    return urls[service]


@dataclass(frozen=True)
class FiwareConnection:
    """The connection settings of one FIWARE service.

    ``tenant`` is the installation's default tenant (``CHRONOS_FIWARE_SERVICE`` /
    ``CHRONOS_FIWARE_SERVICEPATH``); each request still names its own. The token is a
    :class:`SecretStr` and never shows in a repr.
    """

    base_url: Annotated[str, AfterValidator(_http_url)]
    tenant: Tenant | None = None
    auth_token: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, service: ServiceKey) -> FiwareConnection:
        """``service``'s connection as configured."""
        return cls(
            base_url=service_url(settings, service),
            tenant=Tenant(settings.fiware_service, settings.fiware_servicepath),
            auth_token=settings.fiware_auth_token,
            timeout_seconds=settings.http_timeout_seconds,
            retry=RetryPolicy.from_settings(settings),
        )

    def replace(
        self,
        *,
        base_url: str | None = None,
        timeout_seconds: float | None = None,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        auth_token: SecretStr | str | None = None,
    ) -> FiwareConnection:
        """A copy with the given values changed (``None``: unchanged)."""
        retry = dataclasses.replace(
            self.retry, **_given(retries=retries, backoff_seconds=backoff_seconds)
        )
        changes = _given(base_url=base_url, timeout_seconds=timeout_seconds, auth_token=auth_token)
        return dataclasses.replace(self, retry=retry, **changes)

    def headers(self, tenant: Tenant | None) -> dict[str, str]:
        """The tenant's ``Fiware-Service``/``Fiware-ServicePath`` and the ``X-Auth-Token``."""
        headers: dict[str, str] = {}
        if tenant is not None:
            headers.update(tenant.headers())
        if self.auth_token is not None:
            headers["X-Auth-Token"] = self.auth_token.get_secret_value()
        return headers
