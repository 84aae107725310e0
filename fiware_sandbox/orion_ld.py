"""In-memory emulation of Orion-LD 1.6.0's NGSI-LD API (``shared/contracts/orion-ld.json``).

Entities (create, read in normalized/keyValues/concise/sysAttrs form, attribute PATCH/append/
delete, delete), batch create and upsert (the default *replaces*, ``options=update`` merges),
lists with ``limit``/``offset``/``count``/``q``, types, tenants (``NGSILD-Tenant``), ``@context``
in a body or a ``Link`` header (downloaded once, 503 when it cannot be), subscriptions with
notifications, and the recorded 501 of the temporal API. Like Orion-LD with TRoE, every write
also records attribute instances, which the sandbox's NGSI-LD temporal API
(:mod:`fiware_sandbox.ngsi_ld_temporal`) serves.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

import httpx

from fiware_sandbox.faults import Fault
from fiware_sandbox.ngsi_ld_model import (
    CORE_CONTEXT,
    JSON_TYPE,
    LD_JSON,
    Context,
    ContextLoader,
    Instance,
    LdEntity,
    LdError,
    LdTenant,
    bad_request,
    check_uri,
    link_url,
    link_value,
    normalize_datetime,
    not_found,
    parse_request_json,
    render_attribute,
)
from fiware_sandbox.orion_subscriptions import NotificationDelivery, Outgoing
from fiware_sandbox.routing import Router
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import (
    iso_ms,
    json_bytes,
    now_ms,
    parse_date_ms,
    respond,
    time_correlator,
    uptime_text,
)

MAX_LIMIT = 1000
DEFAULT_LIMIT = 20
BASE = "/ngsi-ld/v1"
CHRONOS_CONTEXT_PATH = "/chronos/context.jsonld"
_OPS = ("==", "!=", ">=", "<=", ">", "<")

_VERSION = (
    "{{\n"
    '  "orionld version": "1.6.0",\n'
    '  "orion version":   "1.15.0-next",\n'
    '  "uptime":          "{uptime}",\n'
    '  "git_hash":        "04961c2a7 (tag 1.6.0)",\n'
    '  "compile_time":    "Mon Dec 1 12:00:00 UTC 2026",\n'
    '  "compiled_by":     "chronos",\n'
    '  "compiled_in":     "sandbox",\n'
    '  "release_date":    "Mon Dec 1 12:00:00 UTC 2026",\n'
    '  "doc":             "https://fiware-orion.readthedocs.org/en/master/"\n'
    "}}\n"
)
_LD_VERSION = {
    "Orion-LD version": "1.6.0",
    "based on orion": "1.15.0-next",
    "kbase version": "standin-0.8",
    "kalloc version": "standin-0.8",
    "khash version": "standin-0.8",
    "kjson version": "standin-0.8.2",
    "microhttpd version": "0.9.75-0",
    "rapidjson version": "1.1.0",
    "libcurl version": "7.88.1",
    "libuuid version": "UNKNOWN",
    "mongocpp version": "1.1.3",
    "mongoc version": "1.23.1",
    "bson version": "1.23.1",
    "mongodb server version": "8.2.11",
    "boost version": "1_74",
    "openssl version": "OpenSSL 3.0.22 25 Aug 2026",
    "branch": "1.6.0",
}
_TROE_VERSIONS = {"postgres libpq version": "15.0.20", "postgres server version": "15.0.20"}


def _check_entity_id(entity_id: str) -> str:
    return check_uri(entity_id, "Entity ID in URL PATH")


def _method_not_allowed(request: httpx.Request, *_: Any, **__: Any) -> NoReturn:
    raise LdError(405, "BadRequestData", "Method not allowed", request.url.path)


class OrionLdEmulator(EmulatedService):
    """Orion-LD's NGSI-LD API in memory (one tenant per ``NGSILD-Tenant``)."""

    name = "Orion-LD"

    def __init__(self, *, troe: bool = False, notification_timeout: float = 5.0) -> None:
        super().__init__()
        #: ``-troe``: the version resource names the PostgreSQL versions (history is recorded
        #: either way, for the sandbox's temporal API).
        self.troe = troe
        self.contexts = ContextLoader()
        self._delivery = NotificationDelivery(notification_timeout)
        self._tenants: dict[str | None, LdTenant] = {None: LdTenant()}
        self._started = time.time()
        self.chronos_context: dict[str, Any] | None = None
        self._router = self._routes()

    # ------------------------------------------------------------------ public API

    def clear(self) -> None:
        with self._lock:
            self._tenants = {None: LdTenant()}
            self.contexts.clear_cache()
        self.clear_faults()

    def register_receiver(self, base_url: str, service: EmulatedService) -> None:
        """Deliver notifications for ``base_url``'s host and port to ``service`` in-process."""
        self._delivery.register(base_url, service)

    def register_context(self, url: str, document: Any) -> None:
        """Answer downloads of ``url`` with ``document`` in-process (no socket)."""
        self.contexts.register(url, document)

    def serve_chronos_context(self, document: dict[str, Any]) -> None:
        """Serve ``document`` at ``/chronos/context.jsonld`` of this service (and in-process)."""
        self.chronos_context = document
        if self.bound_port is not None:
            for host in ("127.0.0.1", "localhost"):
                url = f"http://{host}:{self.bound_port}{CHRONOS_CONTEXT_PATH}"
                self.contexts.register(url, document)

    def tenant_data(self, tenant: str | None) -> LdTenant | None:
        """The tenant's stored data (for the temporal part and tests), or None."""
        with self._lock:
            return self._tenants.get(tenant)

    def entity(
        self, tenant: str | None, entity_id: str, context: str | None = None
    ) -> dict[str, Any] | None:
        """The stored entity, normalized and compacted with ``context`` (for tests and demos)."""
        with self._lock:
            data = self._tenants.get(tenant)
            stored = data.entities.get(entity_id) if data else None
            if stored is None:
                return None
            ctx = self.contexts.resolve(context)
            return _render(stored, ctx, "normalized", False, None)

    def seed_history(
        self,
        tenant: str | None,
        entity_type: str,
        entity_id: str,
        attribute: str,
        points: list[tuple[int, Any]],
        *,
        context: str | None = None,
    ) -> None:
        """Store ``(epoch ms, value)`` points as the attribute's history and its last value as
        the entity's current value (as if each had been PATCHed with its observedAt)."""
        if not points:
            return
        with self._lock:
            ctx = self.contexts.resolve(context)
            data = self._tenants.setdefault(tenant, LdTenant())
            type_iri, attr_iri = ctx.expand(entity_type), ctx.expand(attribute)
            now = now_ms()
            entity = data.entities.get(entity_id)
            if entity is None:
                entity = LdEntity(entity_id, type_iri, now, now)
                data.entities[entity_id] = entity
            last_ms, last_value = max(points, key=lambda p: p[0])
            entity.attrs[attr_iri] = {
                "type": "Property",
                "value": last_value,
                "observedAt": iso_ms(last_ms),
                "createdAt": now,
                "modifiedAt": now,
            }
            _, attrs = data.history.setdefault(entity_id, (type_iri, {}))
            instances = attrs.setdefault(attr_iri, [])
            instances.extend(Instance(value, millis) for millis, value in points)
            instances.sort(key=lambda i: i.observed_at)

    # ------------------------------------------------------------------ dispatch

    def _routes(self) -> Router[str | None]:
        entity = BASE + "/entities/{entity_id}"
        router: Router[str | None] = Router(convert={"entity_id": _check_entity_id})
        router.add("GET", "/version", self._version)
        router.add("GET", "/ngsi-ld/ex/v1/version", self._ld_version)
        router.add("GET", CHRONOS_CONTEXT_PATH, self._chronos_context)
        router.add("POST", BASE + "/entities", self._create)
        router.add("GET", BASE + "/entities", self._list)
        router.add("GET", entity, self._get)
        router.add("DELETE", entity, self._delete)
        router.add("PATCH POST", entity + "/attrs", self._update_attrs)
        router.add("PATCH", entity + "/attrs/{name}", self._patch_attr)
        router.add("DELETE", entity + "/attrs/{name}", self._delete_attr)
        router.add("POST", BASE + "/entityOperations/{operation}", self._batch)
        router.add("GET", BASE + "/types", self._types)
        router.add("POST", BASE + "/subscriptions", self._create_subscription)
        router.add("GET", BASE + "/subscriptions", self._list_subscriptions)
        router.add("GET", BASE + "/subscriptions/{subscription_id}", self._get_subscription)
        router.add("DELETE", BASE + "/subscriptions/{subscription_id}", self._delete_subscription)
        for template in (BASE + "/entities", entity + "/*", BASE + "/subscriptions/*"):
            router.add("*", template, _method_not_allowed)
        return router

    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        tenant = request.headers.get("NGSILD-Tenant")
        try:
            with self._lock:
                routed = self._router.dispatch(request, tenant)
            if routed is not None:
                return routed
            path = request.url.path
            if path.startswith(f"{BASE}/temporal/entities"):
                detail = f"{BASE}/temporal/entities" + ("/*" if path.count("/") > 4 else "")
                raise LdError(
                    501,
                    "OperationNotSupported",
                    "Not Implemented in Orion-LD, please use Mintaka for this operation",
                    detail,
                )
            raise not_found("Service Not Found", path)
        except LdError as error:
            return error.response()

    def _version(self, request: httpx.Request, *_: Any) -> httpx.Response:
        text = _VERSION.format(uptime=uptime_text(time.time() - self._started))
        headers = [("Fiware-Correlator", time_correlator()), ("Content-Type", JSON_TYPE)]
        return respond(200, headers, text.encode())

    def _ld_version(self, request: httpx.Request, *_: Any) -> httpx.Response:
        versions = {**_LD_VERSION, **(_TROE_VERSIONS if self.troe else {})}
        versions["branch"] = versions.pop("branch")  # the last line, as Orion-LD prints it
        body = {
            **versions,
            "cached subscriptions": sum(len(t.subscriptions) for t in self._tenants.values()),
            "Core Context": CORE_CONTEXT,
            "Next File Descriptor": 23,
        }
        text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
        return respond(200, [("Content-Type", JSON_TYPE)], text.encode())

    def _chronos_context(self, request: httpx.Request, *_: Any) -> httpx.Response:
        if self.chronos_context is None:
            raise not_found("Service Not Found", request.url.path)
        return respond(200, [("Content-Type", LD_JSON)], json_bytes(self.chronos_context))

    # ------------------------------------------------------------------ helpers

    def _read_context(self, request: httpx.Request) -> Context:
        return self.contexts.resolve(link_url(request.headers.get("Link")))

    def _write_body(self, request: httpx.Request) -> tuple[Any, Context]:
        """The parsed body and the request context, with Orion-LD's content checks."""
        body, content_type = parse_request_json(request)
        items = body if isinstance(body, list) else [body]
        has_context = any(isinstance(i, dict) and "@context" in i for i in items)
        if content_type == JSON_TYPE:
            if has_context:
                raise bad_request(
                    "Mismatch between /Content-Type/ and contents of the request payload body",
                    "Content-Type is application/json, yet a '@context' item was present in "
                    "the payload body",
                )
            return body, self._read_context(request)
        if not has_context:
            raise bad_request(
                "@context missing in JSON payload",
                "For application/ld+json, the @context must be present in the JSON payload",
            )
        first = next(i for i in items if isinstance(i, dict) and "@context" in i)
        context = self.contexts.resolve(first["@context"])
        for item in items:
            if isinstance(item, dict):
                item.pop("@context", None)
        return body, context

    def _tenant(self, tenant: str | None, *, create: bool = False) -> LdTenant:
        data = self._tenants.get(tenant)
        if data is None:
            if not create:
                raise LdError(404, "NonExistingTenant", "No such tenant", tenant)
            data = self._tenants[tenant] = LdTenant()
        return data

    def _stored(
        self, tenant: str | None, entity_id: str, missing: str
    ) -> tuple[LdTenant, LdEntity]:
        """The tenant's data and the entity (404 ``missing`` when there is none)."""
        data = self._tenant(tenant)
        entity = data.entities.get(entity_id)
        if entity is None:
            raise not_found(missing, entity_id)
        return data, entity

    @staticmethod
    def _tenant_header(tenant: str | None) -> list[tuple[str, str]]:
        return [("NGSILD-Tenant", tenant)] if tenant is not None else []

    def _json(
        self,
        status: int,
        body: Any,
        request: httpx.Request,
        context: Context,
        headers: list[tuple[str, str]] | None = None,
        *,
        link: bool = True,
    ) -> httpx.Response:
        out = list(headers or [])
        accept = request.headers.get("Accept") or JSON_TYPE
        if LD_JSON in accept and JSON_TYPE not in accept.replace(LD_JSON, ""):
            contexts = [context.url] if context.url != CORE_CONTEXT else []
            contexts.append(CORE_CONTEXT)
            if isinstance(body, dict):
                body = {"@context": contexts, **body}
            out.append(("Content-Type", LD_JSON))
        else:
            if link:
                out.append(("Link", link_value(context.url)))
            out.append(("Content-Type", JSON_TYPE))
        return respond(status, out, json_bytes(body))

    # ------------------------------------------------------------------ entities

    def _delete(self, request: httpx.Request, tenant: str | None, entity_id: str) -> httpx.Response:
        if self._tenant(tenant).entities.pop(entity_id, None) is None:
            raise not_found("Entity not found", entity_id)
        return respond(204)

    def _delete_attr(
        self, request: httpx.Request, tenant: str | None, entity_id: str, name: str
    ) -> httpx.Response:
        ctx = self._read_context(request)
        _, entity = self._stored(tenant, entity_id, "Entity not found")
        if entity.attrs.pop(ctx.expand(name), None) is None:
            raise not_found("Attribute not found", name)
        entity.modified_at = now_ms()
        return respond(204)

    def _new_entity(self, body: Any, ctx: Context, detail: str = "id") -> LdEntity:
        if not isinstance(body, dict):
            raise bad_request("Invalid payload", "not a JSON object")
        entity_id = check_uri(body.get("id"), detail)
        entity_type = body.get("type")
        if not isinstance(entity_type, str) or not entity_type:
            raise bad_request("Mandatory field missing", "entity type")
        now = now_ms()
        entity = LdEntity(entity_id, ctx.expand(entity_type), now, now)
        for name, value in body.items():
            if name in ("id", "type"):
                continue
            entity.attrs[ctx.expand(name)] = _attribute(value, name, now)
        return entity

    def _create(self, request: httpx.Request, tenant: str | None) -> httpx.Response:
        body, ctx = self._write_body(request)
        entity = self._new_entity(body, ctx)
        data = self._tenant(tenant, create=True)
        if entity.id in data.entities:
            raise LdError(409, "AlreadyExists", "Entity already exists", entity.id)
        data.entities[entity.id] = entity
        self._written(tenant, data, entity, entity.attrs)
        return respond(
            201, [("Location", f"{BASE}/entities/{entity.id}"), *self._tenant_header(tenant)]
        )

    def _get(self, request: httpx.Request, tenant: str | None, entity_id: str) -> httpx.Response:
        ctx = self._read_context(request)
        _, entity = self._stored(tenant, entity_id, "Entity Not Found")
        representation, sys_attrs = _options(request)
        attrs = _attrs_param(request, ctx)
        body = _render(entity, ctx, representation, sys_attrs, attrs)
        return self._json(200, body, request, ctx, self._tenant_header(tenant))

    def _update_attrs(
        self, request: httpx.Request, tenant: str | None, entity_id: str
    ) -> httpx.Response:
        append = request.method == "POST"
        body, ctx = self._write_body(request)
        if not isinstance(body, dict) or not body:
            raise bad_request("Invalid payload", "an object with attributes is needed")
        data, entity = self._stored(tenant, entity_id, "Entity does not exist")
        now = now_ms()
        changes = {ctx.expand(name): _attribute(value, name, now) for name, value in body.items()}
        if not append:
            missing = [name for name in body if ctx.expand(name) not in entity.attrs]
            if missing:
                raise LdError(
                    404,
                    "ResourceNotFound",
                    "Attribute Not Found",
                    body={"title": "Attribute Not Found", "attributes": missing},
                    headers=[("Link", link_value(ctx.url))],
                )
        _merge(entity, changes, now)
        self._written(tenant, data, entity, changes)
        return respond(204)

    def _patch_attr(
        self, request: httpx.Request, tenant: str | None, entity_id: str, name: str
    ) -> httpx.Response:
        body, ctx = self._write_body(request)
        if not isinstance(body, dict) or not body:
            raise bad_request("Invalid payload", "an attribute fragment is needed")
        data, entity = self._stored(tenant, entity_id, "Entity does not exist")
        iri = ctx.expand(name)
        stored = entity.attrs.get(iri)
        if stored is None:
            raise not_found("Attribute not found", name)
        now = now_ms()
        for key, value in body.items():
            if key == "observedAt":
                value = normalize_datetime(value, f"{name}.observedAt")
            stored[key] = value
        stored["modifiedAt"] = now
        entity.modified_at = now
        self._written(tenant, data, entity, {iri: stored})
        return respond(204)

    def _list(self, request: httpx.Request, tenant: str | None) -> httpx.Response:
        ctx = self._read_context(request)
        query = request.url.params
        if not any(k in query for k in ("type", "id", "q", "attrs", "georel", "idPattern")):
            raise bad_request(
                "Too broad query",
                "Need at least one of: entity-id, entity-type, geo-location, attribute-list, "
                "Q-filter, local=true, or an entity map",
            )
        limit = _int_param(query, "limit", DEFAULT_LIMIT)
        if limit > MAX_LIMIT:
            raise bad_request(
                "Invalid value for URI parameter /limit/",
                f"must be an integer value <= {MAX_LIMIT}",
            )
        offset = _int_param(query, "offset", 0)
        data = self._tenants.get(tenant)
        if data is None:
            raise LdError(404, "NonExistingTenant", "No such tenant", tenant)
        types = {ctx.expand(t) for t in query["type"].split(",")} if "type" in query else None
        ids = set(query["id"].split(",")) if "id" in query else None
        pattern = re.compile(query["idPattern"]) if "idPattern" in query else None
        attrs = _attrs_param(request, ctx)
        conditions = _parse_q(query["q"], ctx) if "q" in query else []
        matched = [
            e
            for e in data.entities.values()
            if (types is None or e.type in types)
            and (ids is None or e.id in ids)
            and (pattern is None or pattern.match(e.id))
            and (attrs is None or any(a in e.attrs for a in attrs))
            and all(_holds(e, c) for c in conditions)
        ]
        representation, sys_attrs = _options(request)
        page = [
            _render(e, ctx, representation, sys_attrs, attrs)
            for e in matched[offset : offset + limit]
        ]
        headers = []
        if query.get("count") == "true":
            headers.append(("NGSILD-Results-Count", str(len(matched))))
        return self._json(200, page, request, ctx, headers, link=bool(page))

    def _types(self, request: httpx.Request, tenant: str | None) -> httpx.Response:
        ctx = self._read_context(request)
        data = self._tenant(tenant)
        seen: list[str] = []
        for entity in data.entities.values():
            name = ctx.compact(entity.type)
            if name not in seen:
                seen.append(name)
        body = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": seen,
        }
        return self._json(200, body, request, ctx)

    # ------------------------------------------------------------------ batch

    def _batch(self, request: httpx.Request, tenant: str | None, operation: str) -> httpx.Response:
        if operation not in ("create", "upsert"):
            raise not_found("Service Not Found", request.url.path)
        body, ctx = self._write_body(request)
        if not isinstance(body, list) or not body:
            raise bad_request("Invalid payload", "Not a JSON Array")
        data = self._tenant(tenant, create=True)
        merge = "update" in request.url.params.get("options", "").split(",")
        created: list[str] = []
        errors: list[dict[str, Any]] = []
        for item in body:
            try:
                entity = self._new_entity(item, ctx)
            except LdError as error:
                errors.append(
                    {
                        "entityId": item.get("id") if isinstance(item, dict) else None,
                        "error": {**error.body, "status": error.status},
                    }
                )
                continue
            existing = data.entities.get(entity.id)
            if operation == "create" and existing is not None:
                errors.append(
                    {
                        "entityId": entity.id,
                        "error": {
                            "type": "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists",
                            "title": "Entity already exists",
                            "detail": "Cannot create an existing entity",
                            "status": 409,
                        },
                    }
                )
                continue
            changes = entity.attrs
            if existing is not None and merge:
                _merge(existing, changes, entity.modified_at)
                entity = existing
            else:
                if existing is None:
                    created.append(entity.id)
                else:
                    entity.created_at = existing.created_at
                data.entities[entity.id] = entity
            self._written(tenant, data, entity, changes)
        headers = [*self._tenant_header(tenant), ("Content-Type", JSON_TYPE)]
        if errors:
            return respond(207, headers, json_bytes({"success": created, "errors": errors}))
        return respond(201, headers, json_bytes(created)) if created else respond(204)

    # ------------------------------------------------------------------ history (TRoE)

    @staticmethod
    def _record(data: LdTenant, entity: LdEntity, changes: Mapping[str, dict[str, Any]]) -> None:
        _, attrs = data.history.setdefault(entity.id, (entity.type, {}))
        for iri, stored in changes.items():
            kind = stored.get("type", "Property")
            value = stored.get("object") if kind == "Relationship" else stored.get("value")
            observed = stored.get("observedAt")
            millis = parse_date_ms(observed) if isinstance(observed, str) else None
            instances = attrs.setdefault(iri, [])
            instances.append(
                Instance(
                    copy.deepcopy(value),
                    millis if millis is not None else stored["modifiedAt"],
                    kind,
                    stored.get("unitCode"),
                )
            )
            instances.sort(key=lambda i: i.observed_at)

    # ------------------------------------------------------------------ subscriptions

    def _create_subscription(self, request: httpx.Request, tenant: str | None) -> httpx.Response:
        body, ctx = self._write_body(request)
        subscription = _parse_subscription(body)
        data = self._tenant(tenant, create=True)
        if subscription["id"] in data.subscriptions:
            raise LdError(409, "AlreadyExists", "Subscription already exists", subscription["id"])
        subscription["_context"] = ctx
        data.subscriptions[subscription["id"]] = subscription
        location = ("Location", f"{BASE}/subscriptions/{subscription['id']}")
        return respond(201, [location, *self._tenant_header(tenant)])

    def _list_subscriptions(self, request: httpx.Request, tenant: str | None) -> httpx.Response:
        ctx = self._read_context(request)
        data = self._tenant(tenant)
        offset = _int_param(request.url.params, "offset", 0)
        limit = _int_param(request.url.params, "limit", DEFAULT_LIMIT)
        items = list(data.subscriptions.values())[offset : offset + limit]
        return self._json(200, [_render_subscription(s) for s in items], request, ctx)

    def _get_subscription(
        self, request: httpx.Request, tenant: str | None, subscription_id: str
    ) -> httpx.Response:
        found = self._tenant(tenant).subscriptions.get(subscription_id)
        ctx = self._read_context(request)
        if found is None:
            raise not_found("subscription not found", subscription_id)
        return self._json(200, _render_subscription(found), request, ctx)

    def _delete_subscription(
        self, request: httpx.Request, tenant: str | None, subscription_id: str
    ) -> httpx.Response:
        if self._tenant(tenant).subscriptions.pop(subscription_id, None) is None:
            raise not_found("subscription not found", subscription_id)
        return respond(204)

    def _written(
        self,
        tenant: str | None,
        data: LdTenant,
        entity: LdEntity,
        changes: Mapping[str, dict[str, Any]],
    ) -> None:
        """Record the written attributes as history (TRoE) and notify the subscriptions."""
        self._record(data, entity, changes)
        changed = set(changes)
        for subscription in list(data.subscriptions.values()):
            ctx: Context = subscription["_context"]
            types = {ctx.expand(e.get("type", "")) for e in subscription["entities"]}
            ids = {e["id"] for e in subscription["entities"] if "id" in e}
            if entity.type not in types or (ids and entity.id not in ids):
                continue
            watched = {ctx.expand(a) for a in subscription.get("watchedAttributes", [])}
            if watched and not watched & changed:
                continue
            notification = subscription["notification"]
            wanted = [ctx.expand(a) for a in notification.get("attributes", [])] or None
            fmt = notification.get("format", "normalized")
            rendered = _render(entity, ctx, fmt, False, wanted)
            now = now_ms()
            body = {
                "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
                "type": "Notification",
                "subscriptionId": subscription["id"],
                "notifiedAt": iso_ms(now),
                "data": [rendered],
            }
            uri = notification["endpoint"]["uri"]
            headers = [
                ("Content-Type", JSON_TYPE),
                ("User-Agent", "orionld/1.6.0"),
                ("Accept", JSON_TYPE),
                ("Ngsild-Attribute-Format", fmt[0].upper() + fmt[1:]),
                ("Link", link_value(ctx.url)),
            ]
            if tenant is not None:
                headers.append(("Ngsild-Tenant", tenant))
            separator = "&" if "?" in uri else "?"
            outgoing = Outgoing(
                subscription["id"],
                tenant or "",
                f"{uri}{separator}subscriptionId={subscription['id']}",
                "POST",
                headers,
                json_bytes(body),
            )
            status, _ = self._delivery.deliver(outgoing)
            counters = subscription["_counters"]
            counters["timesSent"] = counters.get("timesSent", 0) + 1
            counters["lastNotification"] = iso_ms(now)
            if status is not None and 200 <= status < 300:
                counters["lastSuccess"] = iso_ms(now)
            else:
                counters["lastFailure"] = iso_ms(now)


# ---------------------------------------------------------------------------- helpers


def _merge(entity: LdEntity, changes: Mapping[str, dict[str, Any]], now: int) -> None:
    """Write attributes into an entity; one it already had keeps its createdAt."""
    for iri, value in changes.items():
        old = entity.attrs.get(iri)
        if old is not None:
            value["createdAt"] = old["createdAt"]
        entity.attrs[iri] = value
    entity.modified_at = now


def _attribute(value: Any, name: str, now: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("Invalid attribute", name)
    kind = value.get("type") or ("Relationship" if "object" in value else "Property")
    if kind == "Relationship":
        check_uri(value.get("object"), f"{name}::object")
    stored: dict[str, Any] = {"type": kind}
    for key, item in value.items():
        if key == "type":
            continue
        if key == "observedAt":
            item = normalize_datetime(item, f"{name}.observedAt")
        stored[key] = copy.deepcopy(item)
    stored["createdAt"] = now
    stored["modifiedAt"] = now
    return stored


def _render(
    entity: LdEntity,
    ctx: Context,
    representation: str,
    sys_attrs: bool,
    attrs: list[str] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity.id, "type": ctx.compact(entity.type)}
    if sys_attrs and representation == "normalized":
        out["createdAt"] = iso_ms(entity.created_at)
        out["modifiedAt"] = iso_ms(entity.modified_at)
    for iri, stored in entity.attrs.items():
        if attrs is not None and iri not in attrs:
            continue
        out[ctx.compact(iri)] = render_attribute(stored, representation, sys_attrs)
    return out


def _options(request: httpx.Request) -> tuple[str, bool]:
    options = [o for o in request.url.params.get("options", "").split(",") if o]
    representation = "normalized"
    for option in options:
        if option in ("keyValues", "simplified"):
            representation = "keyValues"
        elif option == "concise":
            representation = "concise"
    if request.url.params.get("format") in ("keyValues", "simplified", "concise"):
        representation = request.url.params["format"].replace("simplified", "keyValues")
    return representation, "sysAttrs" in options


def _attrs_param(request: httpx.Request, ctx: Context) -> list[str] | None:
    if "attrs" not in request.url.params:
        return None
    return [ctx.expand(a) for a in request.url.params["attrs"].split(",") if a]


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    if name not in query:
        return default
    try:
        value = int(query[name])
    except ValueError:
        value = -1
    if value < 0:
        raise bad_request(f"Invalid value for URI parameter /{name}/", "must be an integer >= 0")
    return value


def _parse_q(text: str, ctx: Context) -> list[tuple[str, str, Any]]:
    conditions = []
    for part in text.split(";"):
        for op in _OPS:
            if op in part:
                name, raw = part.split(op, 1)
                value: Any
                if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
                    value = raw[1:-1]
                else:
                    try:
                        value = float(raw)
                    except ValueError:
                        value = raw
                conditions.append((ctx.expand(name.strip()), op, value))
                break
        else:
            conditions.append((ctx.expand(part.strip()), "exists", None))
    return conditions


def _holds(entity: LdEntity, condition: tuple[str, str, Any]) -> bool:
    iri, op, wanted = condition
    stored = entity.attrs.get(iri)
    if stored is None:
        return False
    if op == "exists":
        return True
    actual = stored.get("object") if stored.get("type") == "Relationship" else stored.get("value")
    if isinstance(wanted, float) and (
        isinstance(actual, bool) or not isinstance(actual, int | float)
    ):
        return op == "!="
    if isinstance(wanted, str) and not isinstance(actual, str):
        return op == "!="
    try:
        return {
            "==": actual == wanted,
            "!=": actual != wanted,
            ">=": actual >= wanted,
            "<=": actual <= wanted,
            ">": actual > wanted,
            "<": actual < wanted,
        }[op]
    except TypeError:
        return False


def _parse_subscription(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Invalid payload", "not a JSON object")
    subscription = {k: copy.deepcopy(v) for k, v in body.items()}
    if "id" in subscription:
        check_uri(subscription["id"], "id")
    else:
        subscription = {"id": f"urn:ngsi-ld:subscription:{uuid.uuid4()}", **subscription}
    entities = subscription.get("entities")
    if not isinstance(entities, list) or not entities:
        if not subscription.get("watchedAttributes"):
            raise bad_request("Mandatory field missing", "entities")
        subscription["entities"] = []
    notification = subscription.get("notification")
    if not isinstance(notification, dict):
        raise bad_request("Mandatory field missing", "notification")
    endpoint = notification.get("endpoint")
    if not isinstance(endpoint, dict):
        raise bad_request("Mandatory field missing", "notification::endpoint")
    check_uri(endpoint.get("uri"), "endpoint::uri")
    subscription["_counters"] = {}
    return subscription


def _render_subscription(subscription: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in subscription.items():
        if key.startswith("_") or key in ("notification", "@context"):
            continue
        out[key] = copy.deepcopy(value)
    out["status"] = "active"
    out["isActive"] = True
    notification = copy.deepcopy(subscription["notification"])
    notification["status"] = "ok"
    notification.update(subscription["_counters"])
    out["notification"] = notification
    out["origin"] = "cache"
    out["jsonldContext"] = subscription["_context"].url
    return out
