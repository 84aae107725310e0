"""In-memory emulation of STH-Comet 2.11 (raw and aggregated history, ``/notify``).

Reproduces the recorded behaviour of the real service (see ``shared/contracts/sth-comet.json``):
hapi/boom error bodies on v1 and NGSIv2-style ones on v2, the ``hLimit``/``hOffset``/``lastN``
rules and quirks, the lowercase ``fiware-total-count`` header, values stored with the JSON type
they were notified with, duplicates ignored, and an NGSIv2 notification left unanswered.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from fiware_sandbox.faults import Fault
from fiware_sandbox.routing import Router
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.sth_aggregation import (
    RESOLUTIONS,
    aggregate,
    classify,
    expand_methods,
    render_documents,
)
from fiware_sandbox.wire import (
    InvalidJSON,
    encode_json,
    iso_ms,
    json_bytes,
    now_ms,
    parse_date_ms,
    parse_json,
    path_segments,
    random_correlator,
    respond,
    sequence_object_id,
    to_epoch_ms,
)

if TYPE_CHECKING:
    import pandas as pd

    from chronos_core.fiware.tenant import Tenant

STH_VERSION = "2.11.0-next"
JSON_TYPE = "application/json; charset=utf-8"
RAW_QUERY_KEYS = ["lastN", "hLimit", "hOffset", "filetype", "aggrMethod", "aggrPeriod", "count"]
COMBINATION_MESSAGE = (
    "A combination of the following query params is required: lastN, hLimit and hOffset, "
    "filetype, or aggrMethod and aggrPeriod"
)
PAGE_SIZE_MESSAGE = "hLimit <= lastN <= config.maxPageSize"
NO_ATTRIBUTES_MESSAGE = (
    "At least one attribute with an aggregatable value should be included in the notification"
)
_METHOD_PATTERN = re.compile(r"^(min|max|sum|sum2|occur|all)(,(min|max|sum|sum2|occur|all))*$")

# A raw point: (recvTime epoch ms, arrival sequence, attrType, attrValue as parsed JSON).
RawPoint = tuple[int, int, str, Any]
SeriesKey = tuple[str, str, str, str, str]


class _BadRequest(Exception):
    def __init__(self, message: str, source: str, keys: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.keys = keys


def _js_date_string(epoch_ms: int) -> str:
    """JavaScript ``Date.prototype.toString`` in a UTC process."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%a %b %d %Y %H:%M:%S") + " GMT+0000 (Coordinated Universal Time)"


def _csv_cell(value: Any) -> str:
    text = value if isinstance(value, str) else encode_json(value)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _tenant_pair(tenant: Any) -> tuple[str, str]:
    if isinstance(tenant, tuple):
        return str(tenant[0]), str(tenant[1])
    return str(tenant.service), str(tenant.servicepath)


def _to_epoch_ms(moment: Any) -> int:
    if isinstance(moment, int) and not isinstance(moment, bool):
        return moment
    if isinstance(moment, str):
        parsed = parse_date_ms(moment)
        if parsed is None:
            raise ValueError(f"not a date: {moment!r}")
        return parsed
    if isinstance(moment, datetime):  # pandas Timestamps too
        return to_epoch_ms(moment)
    raise ValueError(f"not a timestamp: {moment!r}")


def _plain_value(value: Any) -> Any | None:
    """A JSON-ready Python value; None for missing values (NaN) that cannot be stored."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


class SthCometEmulator(EmulatedService):
    """STH-Comet with its data in memory. Seed it with :meth:`seed` or :meth:`seed_from_csv`."""

    name = "STH-Comet"

    def __init__(self, *, max_page_size: int = 100, unanswered_seconds: float = 60.0) -> None:
        super().__init__()
        if max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        self.max_page_size = max_page_size
        #: How long an unanswerable notification (NGSIv2 format) keeps its connection open.
        self.unanswered_seconds = unanswered_seconds
        self._series: dict[SeriesKey, list[RawPoint]] = {}
        self._sequence = 0
        self._router = self._routes()

    # ================================================================ public Python API

    def clear(self) -> None:
        with self._lock:
            self._series.clear()
        self.clear_faults()

    def seed(
        self,
        tenant: Tenant | tuple[str, str],
        entity_type: str,
        entity_id: str,
        attribute: str,
        series: pd.Series | Iterable[tuple[Any, Any]],
        *,
        attr_type: str = "Number",
    ) -> int:
        """Store points directly, as if notified with TimeInstant = their timestamp.

        ``series`` is a pandas Series indexed by timestamps (naive means UTC) or pairs of
        (datetime | ISO string | epoch ms, value). Values keep their JSON type; NaN is skipped.
        Identical points (same time, type and value) are ignored like ``/notify`` does.
        Returns the number of points stored.
        """
        service, servicepath = _tenant_pair(tenant)
        pairs: Iterable[tuple[Any, Any]]
        if hasattr(series, "index") and hasattr(series, "to_numpy"):
            pairs = zip(series.index, series.to_numpy(), strict=True)
        else:
            pairs = series
        points: list[tuple[int, str, Any]] = []
        for moment, raw in pairs:
            value = _plain_value(raw)
            if value is None:
                continue
            points.append((_to_epoch_ms(moment), attr_type, value))
        key = (service, servicepath, entity_type, entity_id, attribute)
        with self._lock:
            return self._store_many(key, points)

    def seed_from_csv(
        self,
        path: str | Path,
        tenant: Tenant | tuple[str, str],
        entity_type: str,
        entity_id: str,
        attribute: str,
        timestamp_column: str = "timestamp",
        value_column: str = "value",
        *,
        attr_type: str = "Number",
    ) -> int:
        """Seed from a CSV file with a timestamp column and a value column."""
        from fiware_sandbox.seeding import read_series_csv

        pairs = read_series_csv(path, timestamp_column, value_column)
        return self.seed(tenant, entity_type, entity_id, attribute, pairs, attr_type=attr_type)

    def points(
        self,
        tenant: Tenant | tuple[str, str],
        entity_type: str,
        entity_id: str,
        attribute: str,
    ) -> list[tuple[datetime, Any]]:
        """What is stored for one attribute, oldest first, as (UTC datetime, raw value)."""
        key = (*_tenant_pair(tenant), entity_type, entity_id, attribute)
        with self._lock:
            stored = list(self._series.get(key, ()))
        return [(datetime.fromtimestamp(p[0] / 1000, tz=UTC), p[3]) for p in stored]

    def count(
        self,
        tenant: Tenant | tuple[str, str],
        entity_type: str,
        entity_id: str,
        attribute: str,
    ) -> int:
        key = (*_tenant_pair(tenant), entity_type, entity_id, attribute)
        with self._lock:
            return len(self._series.get(key, ()))

    # ================================================================ storage

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _store_one(self, key: SeriesKey, recv_ms: int, attr_type: str, value: Any) -> bool:
        """Store one point unless an identical one exists; True when stored."""
        stored = self._series.setdefault(key, [])
        low = bisect.bisect_left(stored, recv_ms, key=lambda p: p[0])
        high = bisect.bisect_right(stored, recv_ms, key=lambda p: p[0])
        encoded = encode_json(value)
        for point in stored[low:high]:
            if point[2] == attr_type and encode_json(point[3]) == encoded:
                return False
        stored.insert(high, (recv_ms, self._next_sequence(), attr_type, value))
        return True

    def _store_many(self, key: SeriesKey, points: list[tuple[int, str, Any]]) -> int:
        if len(points) < 64:
            return sum(self._store_one(key, *point) for point in points)
        existing = self._series.get(key, [])
        combined = list(existing)
        for recv_ms, attr_type, value in points:
            combined.append((recv_ms, self._next_sequence(), attr_type, value))
        combined.sort(key=lambda p: (p[0], p[1]))
        kept: list[RawPoint] = []
        same_time: list[tuple[str, str]] = []  # identities already kept at the current time
        for point in combined:
            if not kept or kept[-1][0] != point[0]:
                kept.append(point)
                same_time = []
                continue
            if not same_time:
                same_time.append((kept[-1][2], encode_json(kept[-1][3])))
            identity = (point[2], encode_json(point[3]))
            if identity not in same_time:
                same_time.append(identity)
                kept.append(point)
        self._series[key] = kept
        return len(kept) - len(existing)

    def _window(
        self, key: SeriesKey, date_from: int | None, date_to: int | None
    ) -> tuple[list[RawPoint], int, int]:
        """The stored points and the [low, high) index range inside the dates (no copy)."""
        stored = self._series.get(key, [])
        low = 0 if date_from is None else bisect.bisect_left(stored, date_from, key=lambda p: p[0])
        high = (
            len(stored)
            if date_to is None
            else bisect.bisect_right(stored, date_to, key=lambda p: p[0])
        )
        return stored, low, max(low, high)

    # ================================================================ HTTP

    def _routes(self) -> Router[Fault | None]:
        v1 = "/STH/v1/contextEntities"
        v1_attribute = v1 + "/type/{entity_type}/id/{entity_id}/attributes/{attribute}"
        v2 = "/STH/v2/entities"
        router: Router[Fault | None] = Router()
        router.add("GET", "/version", lambda request, fault: self._version())
        router.add("POST", "/notify", lambda request, fault: self._notify(request))
        read_v1, delete_v1 = partial(self._read, version="v1"), partial(self._delete, version="v1")
        router.add("GET", v1_attribute, read_v1)
        router.add("DELETE", v1_attribute, delete_v1)
        router.add("DELETE", v1 + "/type/{entity_type}/id/{entity_id}", delete_v1)
        router.add("DELETE", v1, delete_v1)
        router.add("GET", v2 + "/{entity_id}/attrs/{attribute}", self._read_v2)
        router.add("DELETE", v2 + "/{entity_id}/{part}/{attribute}", self._delete_v2)
        router.add("DELETE", v2 + "/{entity_id}", self._delete_v2)
        router.add("DELETE", v2, self._delete_v2)
        return router

    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        routed = self._router.dispatch(request, fault)
        if routed is not None:
            return routed
        correlator = self._correlator(request)
        if path_segments(request)[:2] == ["STH", "v2"]:
            body = {"error": "NotFound", "description": "invalid path"}
            return self._json(404, body, correlator=correlator)
        return self._json(404, {"statusCode": 404, "error": "Not Found"}, correlator=correlator)

    def _version(self) -> httpx.Response:
        return self._json(200, {"version": STH_VERSION}, correlator=None)

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _correlator(request: httpx.Request) -> str:
        return request.headers.get("fiware-correlator") or random_correlator()

    @staticmethod
    def _json(
        status: int,
        body: Any,
        *,
        correlator: str | None,
        total: int | None = None,
    ) -> httpx.Response:
        headers: list[tuple[str, str]] = []
        if correlator is not None:
            headers.append(("fiware-correlator", correlator))
        if total is not None:
            headers.append(("fiware-total-count", str(total)))
        headers.append(("content-type", JSON_TYPE))
        headers.append(("cache-control", "no-cache"))
        return respond(status, headers, json_bytes(body))

    def _error(self, version: str, exc: _BadRequest) -> httpx.Response:
        if version == "v2":
            body: dict[str, Any] = {"error": "BadRequest", "description": exc.message}
        else:
            body = {
                "statusCode": 400,
                "error": "Bad Request",
                "message": exc.message,
                "validation": {"source": exc.source, "keys": exc.keys},
            }
        return self._json(400, body, correlator=None)

    @staticmethod
    def _check_headers(request: httpx.Request) -> tuple[str, str]:
        service = request.headers.get("fiware-service")
        if service is None:
            raise _BadRequest(
                'child "fiware-service" fails because [fiware-service is required]', "headers", []
            )
        servicepath = request.headers.get("fiware-servicepath")
        if servicepath is None:
            raise _BadRequest(
                'child "fiware-servicepath" fails because [fiware-servicepath is required]',
                "headers",
                [],
            )
        return service, servicepath

    # ---------------------------------------------------------------- query validation

    @staticmethod
    def _number(query: Mapping[str, str], name: str) -> int | None:
        if name not in query:
            return None
        text = query[name].strip()
        fail = f'child "{name}" fails because ["{name}" '
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            raise _BadRequest(fail + "must be a number]", "query", [name])
        number = float(text)
        if not number.is_integer():
            raise _BadRequest(fail + "must be an integer]", "query", [name])
        if number <= -1:
            raise _BadRequest(fail + "must be greater than -1]", "query", [name])
        return int(number)

    def _validate_query(self, request: httpx.Request, version: str) -> dict[str, Any]:
        query = request.url.params
        if version == "v2" and not query.get("type"):
            raise _BadRequest('child "type" fails because ["type" is required]', "query", ["type"])
        parsed: dict[str, Any] = {
            "lastN": self._number(query, "lastN"),
            "hLimit": self._number(query, "hLimit"),
            "hOffset": self._number(query, "hOffset"),
        }
        method = query.get("aggrMethod")
        if method is not None and not _METHOD_PATTERN.match(method):
            raise _BadRequest(
                'child "aggrMethod" fails because ["aggrMethod" with value '
                f'"{method}" fails to match the required pattern: /{_METHOD_PATTERN.pattern}/]',
                "query",
                ["aggrMethod"],
            )
        parsed["aggrMethod"] = method
        period = query.get("aggrPeriod")
        if period is not None and period not in RESOLUTIONS:
            raise _BadRequest(
                'child "aggrPeriod" fails because ["aggrPeriod" must be one of '
                "[month, day, hour, minute, second]]",
                "query",
                ["aggrPeriod"],
            )
        parsed["aggrPeriod"] = period
        for name in ("dateFrom", "dateTo"):
            if name in query:
                millis = parse_date_ms(query[name])
                if millis is None:
                    raise _BadRequest(
                        f'child "{name}" fails because ["{name}" must be a number of '
                        "milliseconds or valid date string]",
                        "query",
                        [name],
                    )
                parsed[name] = millis
            else:
                parsed[name] = None
        parsed["filetype"] = query.get("filetype")
        count = query.get("count")
        if count is not None and count.lower() not in ("true", "false"):
            raise _BadRequest(
                'child "count" fails because ["count" must be a boolean]', "query", ["count"]
            )
        parsed["count"] = count is not None and count.lower() == "true"
        return parsed

    # ---------------------------------------------------------------- reads

    def _read_v2(
        self, request: httpx.Request, fault: Fault | None, entity_id: str, attribute: str
    ) -> httpx.Response:
        entity_type = request.url.params.get("type") or ""
        return self._read(request, fault, entity_type, entity_id, attribute, version="v2")

    def _delete_v2(
        self,
        request: httpx.Request,
        fault: Fault | None,
        entity_id: str | None = None,
        part: str = "attrs",
        attribute: str | None = None,
    ) -> httpx.Response:
        entity_type = request.url.params.get("type")
        if entity_id is not None and not entity_type:
            missing = _BadRequest('child "type" fails because ["type" is required]', "query", [])
            return self._error("v2", missing)
        if part != "attrs":
            body = {"error": "NotFound", "description": "invalid path"}
            return self._json(404, body, correlator=self._correlator(request))
        return self._delete(request, fault, entity_type, entity_id, attribute, version="v2")

    def _read(
        self,
        request: httpx.Request,
        fault: Fault | None,
        entity_type: str,
        entity_id: str,
        attribute: str,
        *,
        version: str,
    ) -> httpx.Response:
        try:
            service, servicepath = self._check_headers(request)
            q = self._validate_query(request, version)
            last_n, h_limit, h_offset = q["lastN"], q["hLimit"], q["hOffset"]
            filetype = q["filetype"]
            is_csv = bool(filetype) and str(filetype).lower() == "csv"
            raw = last_n is not None or (h_limit is not None and h_offset is not None) or is_csv
            if raw and (
                (last_n and last_n > self.max_page_size)
                or (h_limit and h_limit > self.max_page_size)
                or (h_limit and last_n and h_limit > last_n)
            ):
                raise _BadRequest(PAGE_SIZE_MESSAGE, "query", RAW_QUERY_KEYS)
            if not raw and not (q["aggrMethod"] and q["aggrPeriod"]):
                raise _BadRequest(COMBINATION_MESSAGE, "query", RAW_QUERY_KEYS)
        except _BadRequest as exc:
            return self._error(version, exc)

        key = (service, servicepath, entity_type, entity_id, attribute)
        correlator = self._correlator(request)
        with self._lock:
            if not raw:
                documents = aggregate(
                    ((p[0], p[1], p[3]) for p in self._series.get(key, ())),
                    q["aggrPeriod"],
                    expand_methods(q["aggrMethod"]),
                    q["dateFrom"],
                    q["dateTo"],
                )
                values: list[Any] = render_documents(documents, attribute)
                return self._json(
                    200,
                    self._payload(version, entity_type, entity_id, attribute, values),
                    correlator=correlator,
                )
            stored, low, high = self._window(key, q["dateFrom"], q["dateTo"])
            total = high - low
            descending = False
            if last_n is not None:
                page = stored[max(low, high - last_n) : high] if last_n > 0 else stored[low:high]
                descending = is_csv
            elif h_limit is not None and h_offset is not None:
                start = min(low + h_offset, high)
                end = high if h_limit == 0 else min(start + h_limit, high)
                page = stored[start:end]
            else:
                page = stored[low:high]
            if fault is not None and fault.kind == "short_page":
                page = page[: fault.limit]
            if is_csv:
                rows = list(reversed(page)) if descending else page
                return self._csv(attribute, rows)
            values = [self._render_point(attribute, point) for point in page]
        return self._json(
            200,
            self._payload(version, entity_type, entity_id, attribute, values),
            correlator=correlator,
            total=total if q["count"] else None,
        )

    def _render_point(self, attribute: str, point: RawPoint) -> dict[str, Any]:
        recv_ms, sequence, attr_type, value = point
        return {
            "_id": sequence_object_id(recv_ms // 1000, sequence),
            "recvTime": iso_ms(recv_ms),
            "attrName": attribute,
            "attrType": attr_type,
            "attrValue": value,
        }

    @staticmethod
    def _payload(
        version: str, entity_type: str, entity_id: str, attribute: str, values: list[Any]
    ) -> dict[str, Any]:
        if version == "v2":
            return {"type": "StructuredValue", "value": values}
        return {
            "contextResponses": [
                {
                    "contextElement": {
                        "attributes": [{"name": attribute, "values": values}],
                        "id": entity_id,
                        "isPattern": False,
                        "type": entity_type,
                    },
                    "statusCode": {"code": "200", "reasonPhrase": "OK"},
                }
            ]
        }

    @staticmethod
    def _csv(attribute: str, rows: list[RawPoint]) -> httpx.Response:
        lines = ["attrName,attrType,attrValue,recvTime"]
        for recv_ms, _sequence, attr_type, value in rows:
            lines.append(
                ",".join(
                    (
                        _csv_cell(attribute),
                        _csv_cell(attr_type),
                        _csv_cell(value),
                        _js_date_string(recv_ms),
                    )
                )
            )
        body = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        filename = quote(f"{attribute}-{now_ms()}-0.csv", safe="!#$&+-.^_`|~")
        headers = [
            ("content-disposition", f"attachment; filename*= utf-8''{filename}"),
            ("content-type", "application/octet-stream"),
            ("cache-control", "no-cache"),
        ]
        return respond(200, headers, body)

    # ---------------------------------------------------------------- deletes

    def _delete(
        self,
        request: httpx.Request,
        fault: Fault | None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        attribute: str | None = None,
        *,
        version: str,
    ) -> httpx.Response:
        try:
            service, servicepath = self._check_headers(request)
        except _BadRequest as exc:
            return self._error(version, exc)
        with self._lock:
            for key in list(self._series):
                if key[:2] != (service, servicepath):
                    continue
                if entity_type is not None and key[2] != entity_type:
                    continue
                if entity_id is not None and key[3] != entity_id:
                    continue
                if attribute is not None and key[4] != attribute:
                    continue
                del self._series[key]
        headers = [("fiware-correlator", self._correlator(request)), ("cache-control", "no-cache")]
        return respond(204, headers)

    # ---------------------------------------------------------------- notifications

    def _notify(self, request: httpx.Request) -> httpx.Response:
        try:
            service, servicepath = self._check_headers(request)
        except _BadRequest as exc:
            return self._error("v1", exc)
        try:
            payload = parse_json(request.content)
        except InvalidJSON:
            return self._json(
                400,
                {
                    "statusCode": 400,
                    "error": "Bad Request",
                    "message": "Invalid request payload JSON format",
                },
                correlator=None,
            )
        responses = payload.get("contextResponses") if isinstance(payload, dict) else None
        if not isinstance(responses, list):
            # NGSIv2 notifications (and anything else without contextResponses) are never
            # answered by STH-Comet 2.11: the connection stays open without a status line.
            return respond(0, action="hang", hang_seconds=self.unanswered_seconds)
        elements = []
        for item in responses:
            element = item.get("contextElement") if isinstance(item, dict) else None
            attributes = element.get("attributes") if isinstance(element, dict) else None
            if not isinstance(attributes, list) or not attributes:
                return self._json(
                    400,
                    {
                        "statusCode": 400,
                        "error": "Bad Request",
                        "message": NO_ATTRIBUTES_MESSAGE,
                        "validation": {"source": "payload", "keys": ["attributes"]},
                    },
                    correlator=None,
                )
            assert isinstance(element, dict)
            elements.append((element, attributes))
        received_at = now_ms()
        all_new_and_aggregatable = True
        with self._lock:
            for element, attributes in elements:
                entity_id = str(element.get("id", ""))
                entity_type = str(element.get("type", ""))
                for attribute in attributes:
                    if not isinstance(attribute, dict) or "name" not in attribute:
                        all_new_and_aggregatable = False
                        continue
                    recv_ms = self._time_instant(attribute)
                    value = attribute.get("value")
                    key = (service, servicepath, entity_type, entity_id, str(attribute["name"]))
                    stored = self._store_one(
                        key,
                        received_at if recv_ms is None else recv_ms,
                        str(attribute.get("type", "")),
                        value,
                    )
                    if not stored or classify(value)[0] == "none":
                        all_new_and_aggregatable = False
        headers = [("cache-control", "no-cache")]
        if all_new_and_aggregatable:
            headers.insert(0, ("fiware-correlator", self._correlator(request)))
        return respond(200, headers)

    @staticmethod
    def _time_instant(attribute: Mapping[str, Any]) -> int | None:
        metadatas = attribute.get("metadatas")
        candidates: list[Any] = []
        if isinstance(metadatas, list):
            candidates = [
                m.get("value")
                for m in metadatas
                if isinstance(m, dict) and m.get("name") == "TimeInstant"
            ]
        elif isinstance(attribute.get("metadata"), dict):
            time_instant = attribute["metadata"].get("TimeInstant")
            if isinstance(time_instant, dict):
                candidates = [time_instant.get("value")]
        for candidate in candidates:
            if isinstance(candidate, str):
                parsed = parse_date_ms(candidate)
                if parsed is not None:
                    return parsed
        return None
