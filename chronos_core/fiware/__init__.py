"""httpx clients for STH-Comet, Orion (NGSI v2) and the IoT Agent, and STH paging."""

from chronos_core.fiware.errors import (
    FiwareConflict,
    FiwareError,
    FiwareHTTPError,
    FiwareNotFound,
    FiwareProtocolError,
    FiwareTimeout,
    FiwareUnavailable,
    RequestTarget,
)
from chronos_core.fiware.http import FiwareHTTP, RetryPolicy
from chronos_core.fiware.iot_agent import (
    DiscoveredEntity,
    IoTAgentClient,
    group_devices_by_entity_type,
)
from chronos_core.fiware.orion import OrionClient, build_sth_subscription
from chronos_core.fiware.paging import (
    ChunkPlan,
    PagePlan,
    collect_chunk,
    collection_window,
    plan_chunks,
    plan_pages,
)
from chronos_core.fiware.series import (
    Observation,
    ObservationSeries,
    merge_series,
    parse_raw_values,
)
from chronos_core.fiware.sth_comet import RawHistory, SthCometClient, SthPage
from chronos_core.fiware.tenant import Tenant

__all__ = [
    "ChunkPlan",
    "DiscoveredEntity",
    "FiwareConflict",
    "FiwareError",
    "FiwareHTTP",
    "FiwareHTTPError",
    "FiwareNotFound",
    "FiwareProtocolError",
    "FiwareTimeout",
    "FiwareUnavailable",
    "IoTAgentClient",
    "Observation",
    "ObservationSeries",
    "OrionClient",
    "PagePlan",
    "RawHistory",
    "RequestTarget",
    "RetryPolicy",
    "SthCometClient",
    "SthPage",
    "Tenant",
    "build_sth_subscription",
    "collect_chunk",
    "collection_window",
    "group_devices_by_entity_type",
    "merge_series",
    "parse_raw_values",
    "plan_chunks",
    "plan_pages",
]
