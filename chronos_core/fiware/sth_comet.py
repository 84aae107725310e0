"""Client for STH-Comet's raw history (v1 ``contextEntities`` and v2 ``entities`` APIs).

STH-Comet's rules, as recorded from the real service: pages hold at most ``maxPageSize`` (100)
points and larger requests are a 400; ``hLimit`` needs ``hOffset``; points come oldest first;
``count=true`` adds a lowercase ``fiware-total-count`` header (the total matching the date filter,
whatever the paging); unknown entities or attributes give 200 with no values, never 404.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx
from typing_extensions import Unpack

from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import ClientOptions, FiwareClient
from chronos_core.fiware.errors import RequestTarget
from chronos_core.fiware.http import int_header, segment
from chronos_core.fiware.ngsi import format_datetime
from chronos_core.fiware.paging import ChunkPlan, HistoryPage, collect_chunk, plan_chunks
from chronos_core.fiware.series import ObservationSeries, merge_series, parse_raw_values
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings, get_settings

SERVICE_NAME = "STH-Comet"
TOTAL_COUNT_HEADER = "fiware-total-count"
ApiVersion = Literal["v1", "v2"]


@dataclass(frozen=True)
class RawHistory:
    """Raw STH-Comet points as returned (dicts with recvTime, attrValue, ...) and the total."""

    values: tuple[Any, ...]
    total: int | None


SthPage = HistoryPage


class SthCometClient(FiwareClient):
    """Reads (and deletes) attribute history in STH-Comet. A context manager."""

    service_name = SERVICE_NAME
    service_key = "sth"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        settings: Settings | None = None,
        max_page_size: int | None = None,
        api_version: ApiVersion = "v1",
        **options: Unpack[ClientOptions],
    ) -> None:
        settings = settings or get_settings()
        self.max_page_size = max_page_size or settings.sth_max_page_size
        if self.max_page_size < 1:
            raise InvalidInput("max_page_size must be at least 1")
        if api_version not in ("v1", "v2"):
            raise InvalidInput(f"api_version must be 'v1' or 'v2', got {api_version!r}")
        self.api_version = api_version
        super().__init__(base_url, settings=settings, **options)

    def __repr__(self) -> str:
        return f"SthCometClient({self._http.base_url!r}, api={self.api_version})"

    def _path(
        self, entity_type: str, entity_id: str, attribute: str
    ) -> tuple[str, list[tuple[str, str]]]:
        if self.api_version == "v2":
            return (
                f"/STH/v2/entities/{segment(entity_id)}/attrs/{segment(attribute)}",
                [("type", entity_type)],
            )
        return (
            f"/STH/v1/contextEntities/type/{segment(entity_type)}/id/{segment(entity_id)}"
            f"/attributes/{segment(attribute)}",
            [],
        )

    @staticmethod
    def _check_names(entity_type: str, entity_id: str, attribute: str) -> None:
        for what, value in (
            ("entity type", entity_type),
            ("entity id", entity_id),
            ("attribute", attribute),
        ):
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"STH-Comet {what} must be a non-empty string, got {value!r}")

    def raw_history(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        *,
        h_offset: int | None = None,
        h_limit: int | None = None,
        last_n: int | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        count: bool = False,
    ) -> RawHistory:
        """One raw read. Give ``h_offset`` and ``h_limit`` together, or ``last_n``.

        ``h_limit`` and ``last_n`` must be between 1 and the max page size (STH-Comet treats 0 as
        "everything", which this client never asks for).
        """
        self._check_names(entity_type, entity_id, attribute)
        if (h_offset is None) != (h_limit is None):
            raise InvalidInput("h_offset and h_limit go together (STH-Comet requires both)")
        if h_offset is None and last_n is None:
            raise InvalidInput("give h_offset and h_limit, or last_n")
        if h_offset is not None and h_offset < 0:
            raise InvalidInput(f"h_offset must be >= 0, got {h_offset}")
        for name, value in (("h_limit", h_limit), ("last_n", last_n)):
            if value is not None and not 1 <= value <= self.max_page_size:
                raise InvalidInput(
                    f"{name} must be between 1 and the STH-Comet page size "
                    f"{self.max_page_size}, got {value}"
                )
        path, params = self._path(entity_type, entity_id, attribute)
        if last_n is not None:
            params.append(("lastN", str(last_n)))
        else:
            params += [("hLimit", str(h_limit)), ("hOffset", str(h_offset))]
        if date_from is not None:
            params.append(("dateFrom", format_datetime(date_from)))
        if date_to is not None:
            params.append(("dateTo", format_datetime(date_to)))
        if count:
            params.append(("count", "true"))
        target = RequestTarget(entity_id=entity_id, entity_type=entity_type, attribute=attribute)
        response = self._http.request("GET", path, tenant=tenant, params=params, target=target)
        body = self._http.json(response, target=target)
        values = self._extract_values(response, body, attribute, target)
        total: int | None = None
        if count:
            total = self._total(response, target)
        return RawHistory(tuple(values), total)

    def _extract_values(
        self, response: httpx.Response, body: Any, attribute: str, target: RequestTarget
    ) -> list[Any]:
        values: Any = None
        if self.api_version == "v2":
            if isinstance(body, dict):
                values = body.get("value")
        else:
            try:
                element = body["contextResponses"][0]["contextElement"]
                attributes = element["attributes"]
            except (KeyError, IndexError, TypeError):
                raise self._http.protocol_error(
                    response, "no contextResponses[0].contextElement.attributes", target
                ) from None
            if not isinstance(attributes, list):
                raise self._http.protocol_error(response, "attributes is not a list", target)
            values = []
            for item in attributes:
                if isinstance(item, dict) and item.get("name", attribute) == attribute:
                    values = item.get("values")
                    break
        if not isinstance(values, list):
            raise self._http.protocol_error(response, "the values are not a list", target)
        return values

    def _total(self, response: httpx.Response, target: RequestTarget) -> int:
        total = int_header(response, TOTAL_COUNT_HEADER)
        if total is None or total < 0:
            header = response.headers.get(TOTAL_COUNT_HEADER)
            raise self._http.protocol_error(
                response,
                f"count=true but no valid {TOTAL_COUNT_HEADER} header ({header!r})",
                target,
            )
        return total

    # ------------------------------------------------------------------ typed reads

    def count(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> int:
        """How many raw points the attribute has (within the dates, both inclusive)."""
        history = self.raw_history(
            tenant,
            entity_type,
            entity_id,
            attribute,
            h_offset=0,
            h_limit=1,
            date_from=date_from,
            date_to=date_to,
            count=True,
        )
        assert history.total is not None
        return history.total

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
        count: bool = False,
    ) -> SthPage:
        """Points ``h_offset .. h_offset + h_limit - 1`` (oldest first), parsed."""
        history = self.raw_history(
            tenant,
            entity_type,
            entity_id,
            attribute,
            h_offset=h_offset,
            h_limit=h_limit,
            date_from=date_from,
            date_to=date_to,
            count=count,
        )
        series = parse_raw_values(history.values)
        return SthPage(h_offset, h_limit, len(history.values), series, history.total)

    def fetch_last_n(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        last_n: int,
        *,
        date_to: datetime | None = None,
        pages_per_chunk: int = 20,
        should_cancel: Callable[[], bool] | None = None,
    ) -> ObservationSeries:
        """The ``last_n`` most recent points (up to ``date_to``), any size.

        Up to one page this is a single ``lastN`` read; beyond, it counts the points and reads
        the planned pages oldest first (see :mod:`chronos_core.fiware.paging`).
        """
        if last_n < 1:
            raise InvalidInput(f"last_n must be at least 1, got {last_n}")
        if last_n <= self.max_page_size:
            history = self.raw_history(
                tenant, entity_type, entity_id, attribute, last_n=last_n, date_to=date_to
            )
            return parse_raw_values(history.values)
        total = self.count(tenant, entity_type, entity_id, attribute, date_to=date_to)
        chunks = plan_chunks(total, last_n, self.max_page_size, pages_per_chunk)
        source = (tenant, entity_type, entity_id, attribute)
        return self._collect(source, chunks, should_cancel=should_cancel, date_to=date_to)

    def _collect(
        self, source: tuple[Tenant, str, str, str], chunks: Sequence[ChunkPlan], **options: Any
    ) -> ObservationSeries:
        return merge_series(collect_chunk(self, *source, chunk, **options) for chunk in chunks)

    def fetch_range(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        date_from: datetime,
        date_to: datetime,
    ) -> ObservationSeries:
        """Every point between the two dates (inclusive), page by page."""
        dates = {"date_from": date_from, "date_to": date_to}
        total = self.count(tenant, entity_type, entity_id, attribute, **dates)
        chunks = plan_chunks(total, None, self.max_page_size, 1_000_000)
        return self._collect((tenant, entity_type, entity_id, attribute), chunks, **dates)
