"""What every FIWARE client shares: construction from settings, closing, context management."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
from pydantic import SecretStr

from chronos_core.fiware.http import FiwareHTTP, RetryPolicy
from chronos_core.settings import Settings, get_settings


class FiwareClient:
    """Base of the STH-Comet, Orion and IoT Agent clients. A context manager.

    Every argument left ``None`` comes from the settings: the service's URL, the request timeout,
    the retry budget and backoff, and the optional ``X-Auth-Token``.
    """

    service_name: ClassVar[str]
    url_setting: ClassVar[str]  # the Settings field holding this service's base URL

    def __init__(
        self,
        base_url: str | None = None,
        *,
        settings: Settings | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        auth_token: SecretStr | str | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        settings = settings or get_settings()
        retry = RetryPolicy(
            retries=settings.http_retries if retries is None else retries,
            backoff_seconds=(
                settings.http_backoff_seconds if backoff_seconds is None else backoff_seconds
            ),
        )
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self._http = FiwareHTTP(
            self.service_name,
            base_url or getattr(settings, self.url_setting),
            timeout=timeout or settings.http_timeout_seconds,
            retry=retry,
            auth_token=auth_token if auth_token is not None else settings.fiware_auth_token,
            transport=transport,
            **extra,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._http.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
