"""What every FIWARE client shares: one connection object, closing, context management."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Self, TypedDict

import httpx
from pydantic import SecretStr

from chronos_core.fiware.connection import FiwareConnection, ServiceKey
from chronos_core.fiware.http import FiwareHTTP
from chronos_core.settings import Settings, get_settings


class ClientOptions(TypedDict, total=False):
    """The keyword arguments every client passes on to :class:`FiwareClient`."""

    connection: FiwareConnection | None
    transport: httpx.BaseTransport | None
    timeout: float | None
    retries: int | None
    backoff_seconds: float | None
    auth_token: SecretStr | str | None
    sleep: Callable[[float], None] | None


class FiwareClient:
    """Base of the STH-Comet, Orion, Orion-LD, NGSI-LD temporal and IoT Agent clients.

    A client takes one :class:`FiwareConnection` (default: built from the settings for its
    ``service_key``); ``base_url``, ``timeout``, ``retries``, ``backoff_seconds`` and
    ``auth_token`` override single parts of it. A context manager.
    """

    service_name: ClassVar[str]
    service_key: ClassVar[ServiceKey]  # which configured service this client talks to

    def __init__(
        self,
        base_url: str | None = None,
        *,
        settings: Settings | None = None,
        connection: FiwareConnection | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        auth_token: SecretStr | str | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if connection is None:
            connection = FiwareConnection.from_settings(
                settings or get_settings(), self.service_key
            )
        self.connection = connection.replace(
            base_url=base_url,
            timeout_seconds=timeout,
            retries=retries,
            backoff_seconds=backoff_seconds,
            auth_token=auth_token,
        )
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self._http = FiwareHTTP(
            self.service_name, connection=self.connection, transport=transport, **extra
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
