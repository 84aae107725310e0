"""Where attribute history comes from: STH-Comet (NGSI v2) or the NGSI-LD temporal API.

``CHRONOS_NGSI_FLAVOUR`` picks the source of the whole installation: ``v2`` reads STH-Comet,
``ld`` the NGSI-LD temporal API (``CHRONOS_NGSI_LD_TEMPORAL_URL``). Both clients offer the same
reads, so the collection pipeline (chunks of pages, progress, retries), the forecasts' context
window and the forecast history use either unchanged.
"""

from __future__ import annotations

import httpx

from chronos_core.fiware.ngsi_ld_temporal import NgsiLdTemporalClient
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.settings import Settings

#: The history clients: both offer ``count``, ``fetch_page``, ``fetch_last_n`` and ``fetch_range``.
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
