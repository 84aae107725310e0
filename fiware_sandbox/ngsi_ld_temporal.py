"""The NGSI-LD temporal API (ETSI GS CIM 009, clauses 5.7.3/6.18/6.19, 4.5.9, 4.5.19, 6.3.10)
over the history the sandbox Orion-LD records - the part Mintaka plays next to a real Orion-LD.

No recording of a temporal service exists: this follows the specification.

- ``GET /ngsi-ld/v1/temporal/entities/{id}`` with ``attrs``, ``timerel`` (``before``: strictly
  before ``timeAt``; ``after``: strictly after; ``between``: ``timeAt`` <= t < ``endTimeAt``),
  ``lastN``, ``options=temporalValues`` (``[value, observedAt]`` pairs, clause 4.5.9) or the
  normalized form (a list of instances), and ``options=aggregatedValues`` with
  ``aggrMethods=totalCount`` and ``aggrPeriodDuration`` (clause 4.5.19; ``PT0S``: one period).
- At most ``max_instances`` instances per attribute in one answer. A longer result is cut and
  answered **206 Partial Content** with ``Content-Range: date-time <start>-<end>/<size>``
  (clause 6.3.10): with ``lastN`` it pages backwards (newest first; size = ``lastN``), without it
  forwards (size ``*``). The client continues from the range's end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from fiware_sandbox.faults import Fault
from fiware_sandbox.ngsi_ld_model import (
    JSON_TYPE,
    Instance,
    LdError,
    bad_request,
    link_url,
    link_value,
    not_found,
)
from fiware_sandbox.orion_ld import OrionLdEmulator
from fiware_sandbox.routing import Router
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import iso_ms, json_bytes, parse_date_ms, respond

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def duration_ms(text: str) -> int:
    """Milliseconds of an ISO-8601 duration such as ``PT1H``, ``P1DT30M`` or ``PT0S``."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT"):
        raise bad_request("Invalid value for URI parameter /aggrPeriodDuration/", text)
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return int(((parts["d"] * 24 + parts["h"]) * 60 + parts["m"]) * 60_000 + parts["s"] * 1000)


class TemporalEmulator(EmulatedService):
    """The temporal API over ``broker``'s recorded history (its tenants and contexts)."""

    name = "NGSI-LD temporal"

    def __init__(self, broker: OrionLdEmulator, *, max_instances: int = 1000) -> None:
        super().__init__()
        if max_instances < 1:
            raise ValueError("max_instances must be >= 1")
        self.broker = broker
        self.max_instances = max_instances
        self._router: Router[None] = Router()
        self._router.add("GET", "/ngsi-ld/v1/temporal/entities/{entity_id}", self._entity)

    def clear(self) -> None:
        self.clear_faults()

    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        try:
            routed = self._router.dispatch(request, None)
            if routed is None:
                raise LdError(
                    501, "OperationNotSupported", "Not implemented in the sandbox", request.url.path
                )
            return routed
        except LdError as error:
            return error.response()

    def _entity(self, request: httpx.Request, _: None, entity_id: str) -> httpx.Response:
        ctx = self.broker.contexts.resolve(link_url(request.headers.get("Link")))
        tenant = request.headers.get("NGSILD-Tenant")
        data = self.broker.tenant_data(tenant)
        if data is None:
            raise LdError(404, "NonExistingTenant", "No such tenant", tenant)
        with self.broker._lock:
            stored = data.history.get(entity_id)
            if stored is None:
                raise not_found("Entity Not Found", entity_id)
            type_iri, history = stored
            query = request.url.params
            wanted = (
                [ctx.expand(a) for a in query["attrs"].split(",") if a]
                if "attrs" in query
                else None
            )
            selected = {
                iri: [i for i in instances if _in_window(i, query)]
                for iri, instances in history.items()
                if wanted is None or iri in wanted
            }
        options = set(query.get("options", "").split(",")) | {query.get("format", "")}
        body: dict[str, Any] = {"id": entity_id, "type": ctx.compact(type_iri)}
        if "aggregatedValues" in options or "aggrMethods" in query:
            return self._aggregated(request, body, selected, ctx.compact, ctx.url)
        last_n = _last_n(query)
        temporal_values = "temporalValues" in options or "simplified" in options
        truncated = False
        served: list[Instance] = []
        for iri, instances in selected.items():
            if last_n is not None:
                instances = instances[-last_n:] if last_n else []
            if len(instances) > self.max_instances:
                truncated = True
                instances = (
                    instances[-self.max_instances :]
                    if last_n is not None
                    else instances[: self.max_instances]
                )
            if not instances:
                continue
            served.extend(instances)
            name = ctx.compact(iri)
            if temporal_values:
                body[name] = {
                    "type": instances[0].kind,
                    "values": [[i.value, iso_ms(i.observed_at)] for i in instances],
                }
            else:
                body[name] = [_normalized(i) for i in instances]
        headers = [("Link", link_value(ctx.url)), ("Content-Type", JSON_TYPE)]
        if tenant is not None:
            headers.insert(0, ("NGSILD-Tenant", tenant))
        if not truncated:
            return respond(200, headers, json_bytes(body))
        times = [i.observed_at for i in served]
        if last_n is not None:
            start = _bound(query, "endTimeAt" if query.get("timerel") == "between" else "timeAt")
            if query.get("timerel") not in ("before", "between") or start is None:
                start = max(times)
            value = f"date-time {iso_ms(start)}-{iso_ms(min(times))}/{last_n}"
        else:
            start = _bound(query, "timeAt")
            if query.get("timerel") not in ("after", "between") or start is None:
                start = min(times)
            value = f"date-time {iso_ms(start)}-{iso_ms(max(times))}/*"
        return respond(206, [("Content-Range", value), *headers], json_bytes(body))

    def _aggregated(
        self,
        request: httpx.Request,
        body: dict[str, Any],
        selected: dict[str, list[Instance]],
        compact: Any,
        context_url: str,
    ) -> httpx.Response:
        methods = [m for m in request.url.params.get("aggrMethods", "").split(",") if m]
        if methods != ["totalCount"]:
            raise bad_request(
                "Invalid value for URI parameter /aggrMethods/",
                "the sandbox aggregates totalCount only",
            )
        period = duration_ms(request.url.params.get("aggrPeriodDuration", "PT0S"))
        for iri, instances in selected.items():
            if not instances:
                continue
            first, last = instances[0].observed_at, instances[-1].observed_at
            buckets: list[list[Any]] = []
            if period == 0:
                buckets.append([len(instances), iso_ms(first), iso_ms(last + 1)])
            else:
                counts: dict[int, int] = {}
                for instance in instances:
                    index = (instance.observed_at - first) // period
                    counts[index] = counts.get(index, 0) + 1
                for index in sorted(counts):
                    start = first + index * period
                    buckets.append([counts[index], iso_ms(start), iso_ms(start + period)])
            body[compact(iri)] = {"type": instances[0].kind, "totalCount": buckets}
        headers = [("Link", link_value(context_url)), ("Content-Type", JSON_TYPE)]
        return respond(200, headers, json_bytes(body))


def _normalized(instance: Instance) -> dict[str, Any]:
    out: dict[str, Any] = {"type": instance.kind}
    out["object" if instance.kind == "Relationship" else "value"] = instance.value
    out["observedAt"] = iso_ms(instance.observed_at)
    if instance.unit_code is not None:
        out["unitCode"] = instance.unit_code
    return out


def _bound(query: Mapping[str, str], name: str) -> int | None:
    if name not in query:
        return None
    value = parse_date_ms(query[name])
    if value is None:
        raise bad_request(f"Invalid value for URI parameter /{name}/", query[name])
    return value


def _last_n(query: Mapping[str, str]) -> int | None:
    if "lastN" not in query:
        return None
    try:
        value = int(query["lastN"])
    except ValueError:
        value = -1
    if value < 0:
        raise bad_request("Invalid value for URI parameter /lastN/", query["lastN"])
    return value


def _in_window(instance: Instance, query: Mapping[str, str]) -> bool:
    timerel = query.get("timerel")
    if timerel is None:
        return True
    at = _bound(query, "timeAt")
    if at is None:
        raise bad_request("Missing URI parameter /timeAt/", "timerel needs timeAt")
    t = instance.observed_at
    if timerel == "before":
        return t < at
    if timerel == "after":
        return t > at
    if timerel == "between":
        end = _bound(query, "endTimeAt")
        if end is None:
            raise bad_request("Missing URI parameter /endTimeAt/", "timerel=between")
        return at <= t < end
    raise bad_request("Invalid value for URI parameter /timerel/", timerel)
