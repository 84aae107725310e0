"""Where attribute history comes from: STH-Comet (NGSI v2) or the NGSI-LD temporal API.

``CHRONOS_NGSI_FLAVOUR`` picks the source of the whole installation: ``v2`` reads STH-Comet,
``ld`` the NGSI-LD temporal API (``CHRONOS_NGSI_LD_TEMPORAL_URL``). Both clients offer the same
reads, so the collection pipeline (chunks of pages, progress, retries), the forecasts' context
window and the forecast history use either unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, Self

import httpx

from chronos_core.fiware.ngsi_ld_temporal import NgsiLdTemporalClient
from chronos_core.fiware.paging import _Page
from chronos_core.fiware.series import ObservationSeries
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings


class HistorySource(Protocol):
    """The reads of :class:`SthCometClient` that Chronos uses."""

    service_name: str
    max_page_size: int

    def count(self, tenant: Tenant, entity_type: str, entity_id: str, attribute: str) -> int: ...

    def fetch_page(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        h_offset: int,
        h_limit: int,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> _Page: ...

    def fetch_last_n(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        last_n: int,
        *,
        date_to: datetime | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> ObservationSeries: ...

    def fetch_range(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        date_from: datetime,
        date_to: datetime,
    ) -> ObservationSeries: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: Any) -> None: ...


#: The concrete history clients.
HistoryClient = SthCometClient | NgsiLdTemporalClient


def history_client(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> HistoryClient:
    """A new history client for this installation's flavour (close it)."""
    if settings.ngsi_flavour == "ld":
        return NgsiLdTemporalClient(settings=settings, transport=transport)
    return SthCometClient(settings=settings, transport=transport)


def history_page_size(settings: Settings) -> int:
    """Points per request of this installation's history source."""
    if settings.ngsi_flavour == "ld":
        return settings.ngsi_ld_temporal_page_size
    return settings.sth_max_page_size
