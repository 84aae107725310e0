"""FIWARE clients shared by the forecasts of one process.

A forecast makes one STH-Comet read and one Orion upsert; building an httpx client for each
(a TLS context is created even for plain HTTP) would cost more than the requests themselves. The
clients are thread-safe, so one per configuration and process serves every forecast.
"""

from __future__ import annotations

import atexit
from typing import TypeVar

from chronos_core import runtime
from chronos_core.fiware.connection import service_url
from chronos_core.fiware.ngsi_ld_temporal import NgsiLdTemporalClient
from chronos_core.fiware.orion import OrionClient
from chronos_core.fiware.orion_ld import OrionLdClient
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.settings import Settings

C = TypeVar("C", SthCometClient, OrionClient, OrionLdClient, NgsiLdTemporalClient)


def _key(kind: str, url: str, settings: Settings) -> tuple[object, ...]:
    token = settings.fiware_auth_token
    return (
        kind,
        url,
        settings.http_timeout_seconds,
        settings.http_retries,
        settings.http_backoff_seconds,
        settings.sth_max_page_size,
        settings.ngsi_ld_context_url,
        settings.ngsi_ld_context_in_body,
        settings.ngsi_ld_temporal_page_size,
        None if token is None else token.get_secret_value(),
    )


def _shared(kind: type[C], settings: Settings) -> C:
    key = _key(kind.__name__, service_url(settings, kind.service_key), settings)
    state = runtime.current()
    with state.lock:
        client = state.fiware_clients.get(key)
        if client is None:
            client = state.fiware_clients[key] = kind(settings=settings)
    assert isinstance(client, kind)
    return client


def sth_client(settings: Settings) -> SthCometClient:
    """This process's STH-Comet client for ``settings`` (do not close it)."""
    return _shared(SthCometClient, settings)


def history_reader(settings: Settings) -> SthCometClient | NgsiLdTemporalClient:
    """This process's history client: STH-Comet, or the NGSI-LD temporal API in ``ld`` mode."""
    if settings.ngsi_flavour == "ld":
        return _shared(NgsiLdTemporalClient, settings)
    return sth_client(settings)


def orion_ld_client(settings: Settings) -> OrionLdClient:
    """This process's NGSI-LD broker client for ``settings`` (do not close it)."""
    return _shared(OrionLdClient, settings)


def orion_client(settings: Settings) -> OrionClient:
    """This process's Orion client for ``settings`` (do not close it)."""
    return _shared(OrionClient, settings)


@atexit.register
def close_clients() -> None:
    """Close this process's shared clients."""
    runtime.current().close_fiware_clients()
