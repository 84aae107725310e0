"""What every FIWARE client shares (one connection object, closing, context management) and
what the two context-broker clients share."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypedDict, TypeVar

import httpx
from pydantic import SecretStr
from typing_extensions import Unpack

from chronos_core.errors import InvalidInput
from chronos_core.fiware.connection import FiwareConnection, ServiceKey
from chronos_core.fiware.errors import RequestTarget
from chronos_core.fiware.http import Closing, FiwareHTTP, int_header, segment
from chronos_core.settings import Settings, get_settings


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of every client: a whole ``connection``, parts of it that override
    the configured one, and what to send and wait with."""

    connection: FiwareConnection | None
    transport: httpx.BaseTransport | None
    timeout: float | None
    retries: int | None
    backoff_seconds: float | None
    auth_token: SecretStr | str | None
    sleep: Callable[[float], None] | None


class FiwareClient(Closing):
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
        **options: Unpack[ClientOptions],
    ) -> None:
        connection = options.get("connection") or FiwareConnection.from_settings(
            settings or get_settings(), self.service_key
        )
        self.connection = connection.replace(
            base_url=base_url,
            timeout_seconds=options.get("timeout"),
            retries=options.get("retries"),
            backoff_seconds=options.get("backoff_seconds"),
            auth_token=options.get("auth_token"),
        )
        self._http = FiwareHTTP(
            self.service_name,
            connection=self.connection,
            transport=options.get("transport"),
            sleep=options.get("sleep"),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._http.base_url!r})"

    def close(self) -> None:
        self._http.close()


T = TypeVar("T")


class BrokerClient(FiwareClient, Generic[T]):
    """What the Orion (NGSI v2) and Orion-LD clients share: how a request names its tenant
    (``T``), offset-paged lists and subscriptions. The flavour's paths, count query and total
    header are class data."""

    subscriptions_path: ClassVar[str]
    count_param: ClassVar[tuple[str, str]]
    total_header: ClassVar[str]
    #: Whether the subscription list tells its total (otherwise it ends at a short page).
    subscriptions_counted: ClassVar[bool] = True

    def _on(self, tenant: T, *, link: bool = True) -> dict[str, Any]:
        """The request options that name ``tenant`` (``link``: and the ``@context``)."""
        return {"tenant": tenant}

    def _send(self, method: str, path: str, tenant: T, body: Any, **options: Any) -> httpx.Response:
        """A request with a JSON body."""
        return self._http.request(method, path, json=body, **self._on(tenant), **options)

    def _get(self, path: str, what: str, tenant: T, **options: Any) -> dict[str, Any]:
        return self._http.get_object(path, what, **self._on(tenant), **options)

    def _list(
        self,
        path: str,
        tenant: T,
        page_size: int,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        counted: bool = True,
    ) -> list[dict[str, Any]]:
        return self._http.read_list(
            path,
            page_size=page_size,
            limit=limit,
            params=[*params, self.count_param] if counted else params,
            total_header=self.total_header if counted else None,
            short_page_ends=not counted,
            **self._on(tenant),
        )

    def _count(self, path: str, tenant: T, params: Sequence[tuple[str, str]]) -> int:
        response = self._http.request("GET", path, params=params, **self._on(tenant))
        total = int_header(response, self.total_header)
        if total is None:
            raise self._http.protocol_error(response, f"no {self.total_header} in a count")
        return total

    def _subscription_body(self, subscription: Mapping[str, Any]) -> dict[str, Any]:
        return dict(subscription)

    def create_subscription(self, tenant: T, subscription: Mapping[str, Any]) -> str:
        """Create a subscription and return its id (from the Location header)."""
        if not isinstance(subscription, Mapping):
            raise InvalidInput("a subscription must be a JSON object")
        body = self._subscription_body(subscription)
        response = self._send("POST", self.subscriptions_path, tenant, body, idempotent=False)
        return self._http.created_id(response, self.subscriptions_path)

    def list_subscriptions(self, tenant: T, *, page_size: int = 100) -> list[dict[str, Any]]:
        return self._list(
            self.subscriptions_path, tenant, page_size, counted=self.subscriptions_counted
        )

    def delete_subscription(
        self, tenant: T, subscription_id: str, *, missing_ok: bool = False
    ) -> bool:
        """Delete a subscription; False if it was already gone and ``missing_ok``."""
        return self._http.delete(
            f"{self.subscriptions_path}/{segment(subscription_id)}",
            missing_ok=missing_ok,
            target=RequestTarget(subscription_id=subscription_id),
            **self._on(tenant, link=False),
        )
