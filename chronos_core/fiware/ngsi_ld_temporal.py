"""Attribute history from the NGSI-LD temporal API (ETSI GS CIM 009; e.g. Mintaka).

No recording of a temporal service exists; this client follows the specification:

- ``GET /ngsi-ld/v1/temporal/entities/{id}?attrs=A&options=temporalValues`` answers
  ``{"A": {"type": "Property", "values": [[value, observedAt], ...]}}`` (clause 4.5.9), with
  ``timerel=before|after|between``, ``timeAt``/``endTimeAt`` and ``lastN``;
- a server that cannot answer everything at once answers **206** with ``Content-Range:
  date-time <start>-<end>/<size>`` (clause 6.3.10): with ``lastN`` the pages go backwards
  (continue with ``timerel=before&timeAt=<end>``), without it forwards (``timerel=after``);
- the number of points, and how they spread over time, comes from the aggregated representation
  ``aggrMethods=totalCount`` (clause 4.5.19): ``PT0S`` for the total, a period for an index
  that maps the collection's offsets (oldest first, as STH-Comet's ``hOffset``) to times.

It offers what the collection pipeline and the forecasts read from STH-Comet (``count``,
``fetch_page``, ``fetch_last_n``, ``fetch_range``), so the same chunks, progress and retries
apply. Orion-LD answers 501 "please use Mintaka" here: that becomes a
:class:`TemporalApiUnavailable` naming ``CHRONOS_NGSI_LD_TEMPORAL_URL``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from typing_extensions import Unpack

from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import ClientOptions, FiwareClient
from chronos_core.fiware.errors import FiwareHTTPError, RequestTarget
from chronos_core.fiware.http import segment
from chronos_core.fiware.ngsi import format_datetime, parse_datetime
from chronos_core.fiware.orion_ld import check_uri, ld_headers, tenant_name
from chronos_core.fiware.paging import HistoryPage
from chronos_core.fiware.series import ObservationSeries, merge_series, parse_raw_values
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings, get_settings

SERVICE_NAME = "NGSI-LD temporal API"
TEMPORAL = "/ngsi-ld/v1/temporal/entities"
URL_SETTING = "CHRONOS_NGSI_LD_TEMPORAL_URL"
_RANGE = re.compile(r"^date-time\s+(.+?)-(\d{4}-\d{2}-\d{2}T\S+)/(\*|\d+)$")
#: The index asks for about one period per this many points.
_POINTS_PER_PERIOD = 100


class TemporalApiUnavailable(FiwareHTTPError):
    """The configured URL does not serve the NGSI-LD temporal API (Orion-LD answers 501)."""


@dataclass(frozen=True)
class _Bucket:
    count: int
    start: datetime
    end: datetime


class NgsiLdTemporalClient(FiwareClient):
    """Reads one attribute's history from the NGSI-LD temporal API. A context manager.

    ``entity_type`` arguments are accepted for symmetry with STH-Comet and ignored: NGSI-LD ids
    are unique in a tenant. The history of ``Tenant(service, path)`` is read in the NGSI-LD
    tenant ``service``.
    """

    service_name = SERVICE_NAME
    service_key = "ngsi_ld_temporal"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        settings: Settings | None = None,
        page_size: int | None = None,
        context: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        configured = settings or get_settings()
        super().__init__(base_url, settings=configured, **options)
        self.page_size = page_size or configured.ngsi_ld_temporal_page_size
        self.max_page_size = self.page_size
        self.context = context if context is not None else configured.ngsi_ld_context_url
        self._index: dict[tuple[str | None, str, str], list[_Bucket]] = {}

    # ------------------------------------------------------------------ requests

    def _read(
        self,
        tenant: Tenant | str | None,
        entity_id: str,
        attribute: str,
        params: list[tuple[str, str]],
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """The answer and its ``attribute`` member (``{}`` when the entity has no instances)."""
        target = RequestTarget(entity_id=entity_id, attribute=attribute)
        try:
            response = self._http.request(
                "GET",
                f"{TEMPORAL}/{segment(check_uri(entity_id))}",
                params=[("attrs", attribute), *params],
                headers=ld_headers(tenant, self.context),
                target=target,
            )
        except FiwareHTTPError as error:
            if error.status != 501:
                raise
            raise TemporalApiUnavailable(
                f"{self._http.base_url} does not serve the NGSI-LD temporal API "
                f"({error.server_message or 'answered 501'}); point {URL_SETTING} at a temporal "
                "service such as Mintaka",
                status=501,
                server_error=error.server_error,
                server_message=error.server_message,
                service=SERVICE_NAME,
                method=error.method,
                path=error.path,
                target=target,
            ) from None
        body = self._http.json(response)
        value = (body.get(attribute) or {}) if isinstance(body, dict) else None
        if not isinstance(value, dict):
            raise self._http.protocol_error(
                response, f"attribute {attribute!r} is not in the temporal representation"
            )
        return response, value

    def _values(
        self,
        tenant: Tenant | str | None,
        entity_id: str,
        attribute: str,
        params: list[tuple[str, str]],
    ) -> tuple[list[list[Any]], tuple[datetime, datetime] | None]:
        """One page of ``[value, observedAt]`` pairs and, on a 206, its Content-Range."""
        params = [*params, ("options", "temporalValues")]
        response, attr = self._read(tenant, entity_id, attribute, params)
        values = attr.get("values", [])
        if not isinstance(values, list):
            raise self._http.protocol_error(response, "'values' is not an array")
        if response.status_code != 206:
            return values, None
        header = response.headers.get("content-range", "")
        match = _RANGE.match(header.strip())
        if not match:
            raise self._http.protocol_error(
                response, f"206 without a date-time Content-Range ({header!r})"
            )
        return values, (parse_datetime(match.group(1)), parse_datetime(match.group(2)))

    @staticmethod
    def _series(values: Sequence[Any]) -> ObservationSeries:
        return parse_raw_values(
            {"recvTime": v[1], "attrValue": v[0]}
            for v in values
            if isinstance(v, list) and len(v) >= 2
        )

    # ------------------------------------------------------------------ reads

    def fetch_last_n(
        self,
        tenant: Tenant | str | None,
        entity_type: str,
        entity_id: str,
        attribute: str,
        last_n: int,
        *,
        date_to: datetime | None = None,
        should_cancel: Callable[[], bool] | None = None,
        **_: Any,
    ) -> ObservationSeries:
        """The ``last_n`` most recent points (before ``date_to``), following 206 pages back."""
        if last_n < 1:
            raise InvalidInput(f"last_n must be at least 1, got {last_n}")
        parts: list[ObservationSeries] = []
        remaining, before = last_n, date_to
        while remaining > 0:
            if should_cancel is not None and should_cancel():
                break
            params = [("lastN", str(remaining))]
            if before is not None:
                params = [("timerel", "before"), ("timeAt", format_datetime(before)), *params]
            values, content_range = self._values(tenant, entity_id, attribute, params)
            parts.append(self._series(values))
            remaining -= len(values)
            if content_range is None or not values:
                break
            before = content_range[1]
        return merge_series(parts)

    def _forward(
        self,
        tenant: Tenant | str | None,
        entity_id: str,
        attribute: str,
        after: datetime,
        until: datetime | None,
        limit: int | None,
    ) -> list[list[Any]]:
        """Pairs strictly after ``after`` (before ``until``), oldest first, up to ``limit``."""
        out: list[list[Any]] = []
        while limit is None or len(out) < limit:
            if until is None:
                params = [("timerel", "after"), ("timeAt", format_datetime(after))]
            else:
                params = [
                    ("timerel", "between"),
                    ("timeAt", format_datetime(after + timedelta(milliseconds=1))),
                    ("endTimeAt", format_datetime(until)),
                ]
            values, content_range = self._values(tenant, entity_id, attribute, params)
            out.extend(values)
            if content_range is None or not values:
                break
            after = content_range[1]
        return out if limit is None else out[:limit]

    def fetch_range(
        self,
        tenant: Tenant | str | None,
        entity_type: str,
        entity_id: str,
        attribute: str,
        date_from: datetime,
        date_to: datetime,
    ) -> ObservationSeries:
        """Every point between the two dates (inclusive)."""
        values = self._forward(
            tenant,
            entity_id,
            attribute,
            date_from - timedelta(milliseconds=1),
            date_to + timedelta(milliseconds=1),
            None,
        )
        return self._series(values)

    # ------------------------------------------------------------------ counting and offsets

    def _buckets(
        self, tenant: Tenant | str | None, entity_id: str, attribute: str, period: str
    ) -> list[_Bucket]:
        params = [
            ("options", "aggregatedValues"),
            ("aggrMethods", "totalCount"),
            ("aggrPeriodDuration", period),
        ]
        rows = self._read(tenant, entity_id, attribute, params)[1].get("totalCount", [])
        buckets = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, list) and len(row) >= 3 and isinstance(row[0], int | float):
                buckets.append(
                    _Bucket(int(row[0]), parse_datetime(str(row[1])), parse_datetime(str(row[2])))
                )
        return sorted(buckets, key=lambda b: b.start)

    def count(
        self,
        tenant: Tenant | str | None,
        entity_type: str,
        entity_id: str,
        attribute: str,
        **_: Any,
    ) -> int:
        """How many points the attribute has (``aggrMethods=totalCount``, one period)."""
        return sum(b.count for b in self._buckets(tenant, entity_id, attribute, "PT0S"))

    def _offset_index(
        self, tenant: Tenant | str | None, entity_id: str, attribute: str
    ) -> list[_Bucket]:
        key = (tenant_name(tenant), entity_id, attribute)
        index = self._index.get(key)
        if index is None:
            whole = self._buckets(tenant, entity_id, attribute, "PT0S")
            total = sum(b.count for b in whole)
            if not whole or total == 0:
                index = []
            else:
                span = (whole[-1].end - whole[0].start).total_seconds()
                periods = max(1, math.ceil(total / _POINTS_PER_PERIOD))
                seconds = max(1, math.ceil(span / periods))
                index = self._buckets(tenant, entity_id, attribute, f"PT{seconds}S")
            self._index[key] = index
        return index

    def fetch_page(
        self,
        tenant: Tenant | str | None,
        entity_type: str,
        entity_id: str,
        attribute: str,
        h_offset: int,
        h_limit: int,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> HistoryPage:
        """Points ``h_offset`` .. ``h_offset + h_limit - 1`` counted from the oldest (as
        STH-Comet's ``hOffset``/``hLimit``): the count index gives the period to start from."""
        if date_from is not None or date_to is not None:
            raise InvalidInput("the temporal reader pages the whole history (no date bounds)")
        skipped, start = 0, None
        for bucket in self._offset_index(tenant, entity_id, attribute):
            if skipped + bucket.count > h_offset:
                start = bucket.start
                break
            skipped += bucket.count
        if start is None:
            return HistoryPage(h_offset, h_limit, 0, ObservationSeries())
        values = self._forward(
            tenant,
            entity_id,
            attribute,
            start - timedelta(milliseconds=1),
            None,
            h_offset - skipped + h_limit,
        )[h_offset - skipped :]
        return HistoryPage(h_offset, h_limit, len(values), self._series(values))
