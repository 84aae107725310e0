"""How Chronos reaches one FIWARE service: base URL, default tenant, token, timeout, retries.

Every client (STH-Comet, Orion, Orion-LD, the NGSI-LD temporal API, the IoT Agent) takes one
frozen :class:`FiwareConnection`; :meth:`FiwareConnection.from_settings` is the one place that
builds it from the settings (including the temporal API's fallback to the broker URL).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from pydantic import SecretStr

from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings

#: The FIWARE services Chronos talks to, as named in :func:`service_url`.
ServiceKey = Literal["sth", "orion", "orion_ld", "ngsi_ld_temporal", "iot_agent"]


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first, waiting ``backoff * 2**(n-1)`` before retry n."""

    retries: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("backoff must be >= 0")

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

    base_url: str
    tenant: Tenant | None = None
    auth_token: SecretStr | None = None
    timeout_seconds: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"URL must start with http:// or https://, got {self.base_url!r}")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout must be positive")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if isinstance(self.auth_token, str):
            object.__setattr__(self, "auth_token", SecretStr(self.auth_token))

    @classmethod
    def from_settings(
        cls, settings: Settings, service: ServiceKey, *, base_url: str | None = None
    ) -> FiwareConnection:
        """``service``'s connection as configured (``base_url`` overrides its URL)."""
        return cls(
            base_url=base_url or service_url(settings, service),
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
        retry = self.retry
        if retries is not None:
            retry = dataclasses.replace(retry, retries=retries)
        if backoff_seconds is not None:
            retry = dataclasses.replace(retry, backoff_seconds=backoff_seconds)
        token = SecretStr(auth_token) if isinstance(auth_token, str) else auth_token
        return dataclasses.replace(
            self,
            base_url=base_url or self.base_url,
            timeout_seconds=timeout_seconds or self.timeout_seconds,
            retry=retry,
            auth_token=self.auth_token if token is None else token,
        )

    def headers(self, tenant: Tenant | None) -> dict[str, str]:
        """The tenant's ``Fiware-Service``/``Fiware-ServicePath`` and the ``X-Auth-Token``."""
        headers: dict[str, str] = {}
        if tenant is not None:
            headers.update(tenant.headers())
        if self.auth_token is not None:
            headers["X-Auth-Token"] = self.auth_token.get_secret_value()
        return headers
