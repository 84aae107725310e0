"""In-memory emulation of the Orion Context Broker's NGSI v2 API (3.10.1, optionally 4.1.0).

Covers what Chronos and its demos use, with the recorded status codes, headers and bodies
(``shared/contracts/orion.json``): entities (create, upsert, read, attributes, delete, lists with
paging, ``q``, ``idPattern``, ``orderBy``, ``options=count``), batch updates, types and
subscriptions. Like the real Orion, numbers are rendered with at most 9 decimals
(``18.75310225657214`` → ``18.753102257``, ``1e-12`` → ``0``). Subscriptions notify synchronously,
before the triggering request is answered, unless ``delivery_delay_seconds`` is set: then
notifications go out that much later, in order, from a background thread (the real Orion →
STH-Comet delivery is asynchronous and can lag by a minute after a burst), and
:meth:`OrionEmulator.wait_for_deliveries` waits until they have gone.
"""

from __future__ import annotations

import copy
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, NoReturn

import httpx

from fiware_sandbox.faults import Fault
from fiware_sandbox.orion_model import (
    FORBIDDEN_ID_CHARS,
    Attribute,
    Change,
    Entity,
    OrionError,
    TenantData,
    bad_request,
    check_name,
    has_forbidden,
    infer_type,
    iso_seconds,
    normalize_datetime,
    not_found,
    path_matches,
    rendered_numbers,
    unprocessable,
)
from fiware_sandbox.orion_query import QueryError, parse_q, sort_key
from fiware_sandbox.orion_subscriptions import (
    NotificationDelivery,
    Outgoing,
    Subscription,
    build_notification,
    parse_subscription,
    render_subscription,
    subject_matches,
    subscription_request,
)
from fiware_sandbox.routing import Router
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import (
    Headers,
    InvalidJSON,
    json_bytes,
    new_object_id,
    parse_json,
    path_segments,
    respond,
    time_correlator,
    uptime_text,
)

logger = logging.getLogger("chronos.sandbox")

OrionVersion = Literal["3.10.1", "4.1.0"]
JSON_TYPE = "application/json"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 20
ATTRIBUTE_NOT_FOUND = "The entity does not have such an attribute"
SUBSCRIPTION_NOT_FOUND = "The requested subscription has not been found. Check id"
BATCH_ACTIONS = ("append", "appendStrict", "update", "delete", "replace")

_LIBVERSIONS = (
    '  "libversions": {\n'
    '     "boost": "1_74",\n'
    '     "libcurl": "libcurl/7.88.1 OpenSSL/3.0.22 zlib/1.2.13 brotli/1.0.9 zstd/1.5.4 '
    "libidn2/2.3.3 libpsl/0.21.2 (+libidn2/2.3.3) libssh2/1.10.0 nghttp2/1.52.0 librtmp/2.3 "
    'OpenLDAP/2.5.13",\n'
    '     "libmosquitto": "2.0.11",\n'
    '     "libmicrohttpd": "0.9.75",\n'
    '     "openssl": "3.0.22",\n'
    '     "rapidjson": "1.1.0",\n'
    '     "mongoc": "1.23.1",\n'
    '     "bson": "1.23.1"\n'
    "  }\n"
)


class _Call(NamedTuple):
    """What every route of one request shares: the tenant, the answer's headers, and the
    changes the request made (their notifications go out once it is answered)."""

    service: str
    headers: Headers
    changes: list[Change]


def _check_entity_id(entity_id: Any) -> str:
    return check_name(entity_id, "entity id", FORBIDDEN_ID_CHARS)


def _check_subscription_id(sub_id: str) -> str:
    if len(sub_id) != 24:
        raise bad_request("Invalid subscription ID: bad length - 24 chars expected")
    if not re.fullmatch(r"[0-9a-fA-F]{24}", sub_id):
        raise bad_request("Invalid subscription ID: invalid character - hex chars expected")
    return sub_id


def _method_not_allowed(request: httpx.Request, *_: Any, **__: Any) -> NoReturn:
    raise OrionError(405, "MethodNotAllowed", "method not allowed")


def _service_not_found(request: httpx.Request, *_: Any, **__: Any) -> NoReturn:
    raise bad_request(f"service '{request.url.path}' not found")


class OrionEmulator(EmulatedService):
    """Orion's NGSI v2 API in memory. ``version`` picks the 3.10.1 or 4.1.0 behaviour."""

    name = "Orion"

    def __init__(
        self,
        *,
        version: OrionVersion = "3.10.1",
        notification_timeout: float = 5.0,
        delivery_delay_seconds: float = 0.0,
    ) -> None:
        super().__init__()
        if version not in ("3.10.1", "4.1.0"):
            raise ValueError("version must be '3.10.1' or '4.1.0'")
        self.version = version
        self._delivery = NotificationDelivery(notification_timeout)
        #: Seconds between an accepted update and its notifications (0: before the answer).
        self.delivery_delay_seconds = delivery_delay_seconds
        self._pending: queue.Queue[tuple[float, list[Outgoing]]] = queue.Queue()
        self._released = threading.Event()
        self._released.set()
        self._deliverer: threading.Thread | None = None
        self._tenants: dict[str, TenantData] = {}
        self._started = time.time()
        self._router = self._routes()

    # ------------------------------------------------------------------ public API

    def clear(self) -> None:
        self.wait_for_deliveries()  # nothing delayed may land after the reset
        with self._lock:
            self._tenants.clear()
        self.clear_faults()

    def register_receiver(self, base_url: str, service: EmulatedService) -> None:
        """Deliver notifications for ``base_url``'s host and port to ``service`` in-process.

        Loopback names (localhost, 127.0.0.1, 0.0.0.0) are treated as the same host. Other
        subscription URLs are notified over HTTP.
        """
        self._delivery.register(base_url, service)

    def entity(
        self, service: str, servicepath: str, entity_id: str, entity_type: str | None = None
    ) -> dict[str, Any] | None:
        """The stored entity in normalized form, or None (for tests and demos)."""
        with self._lock:
            for entity in self._tenant(service.lower()).entities:
                if (
                    entity.id == entity_id
                    and entity.servicepath == servicepath
                    and (entity_type is None or entity.type == entity_type)
                ):
                    return self._render_entity(entity, None, "normalized")
        return None

    def subscription_ids(self, service: str) -> list[str]:
        with self._lock:
            return list(self._tenant(service.lower()).subscriptions)

    # ------------------------------------------------------------------ dispatch

    def _tenant(self, service: str) -> TenantData:
        return self._tenants.setdefault(service, TenantData())

    def _routes(self) -> Router[_Call]:
        entity = "/v2/entities/{entity_id}"
        attribute = entity + "/attrs/{attr_name}"
        router: Router[_Call] = Router(
            convert={"entity_id": _check_entity_id, "sub_id": _check_subscription_id}
        )
        router.add("GET", "/v2", self._root)
        router.add("GET", "/v2/entities", self._list_entities)
        router.add("POST", "/v2/entities", self._create_entity)
        router.add("GET", entity, self._get_entity)
        router.add("DELETE", entity, self._delete_entity)
        router.add("GET", entity + "/attrs", self._get_entity_attrs)
        router.add("POST PATCH PUT", entity + "/attrs", self._write_entity_attrs)
        router.add("GET", attribute, self._get_attribute)
        router.add("DELETE", attribute, self._delete_attribute)
        router.add("PUT", attribute, self._put_attribute)
        router.add("GET", attribute + "/value", self._get_attribute_value)
        router.add("PUT", attribute + "/value", self._put_attribute_value)
        router.add("POST", "/v2/op/update", self._batch)
        router.add("GET", "/v2/types", self._types)
        router.add("GET", "/v2/types/{type_name}", self._types)
        router.add("GET", "/v2/subscriptions", self._list_subscriptions)
        router.add("POST", "/v2/subscriptions", self._create_subscription)
        sub = "/v2/subscriptions/{sub_id}"
        router.add("GET", sub, self._get_subscription)
        router.add("DELETE", sub, self._delete_subscription)
        router.add("PATCH", sub, self._patch_subscription)
        # Another method on a known resource is a 405; an unknown path below an entity is a
        # 400 "service not found", and anywhere else below these four resources a 405.
        for template in (
            "/v2/entities",
            entity,
            entity + "/attrs",
            attribute,
            attribute + "/value",
            sub,
        ):
            router.add("*", template, _method_not_allowed)
        router.add("*", entity + "/*", _service_not_found)
        for family in ("types", "subscriptions", "op"):
            router.add("*", f"/v2/{family}/*", _method_not_allowed)
        return router

    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        correlator = request.headers.get("fiware-correlator") or time_correlator()
        headers = [("Fiware-Correlator", correlator)]
        try:
            if (
                request.method in ("GET", "DELETE")
                and request.headers.get("content-type") is not None
            ):
                raise bad_request(
                    "Orion accepts no payload for GET/DELETE requests. "
                    "HTTP header Content-Type is thus forbidden"
                )
            if request.method == "GET" and request.url.path == "/version":
                text = self._version_text().encode("utf-8")
                return respond(200, [*headers, ("Content-Type", JSON_TYPE)], text)
            if path_segments(request)[0] != "v2":  # the tenant is not read outside /v2
                _service_not_found(request)
        except OrionError as exc:
            return self._error(exc, headers)
        changes: list[Change] = []
        with self._lock:
            try:
                service = self._service(request)
                routed = self._router.dispatch(request, _Call(service, headers, changes))
                response = routed or _service_not_found(request)
            except OrionError as exc:
                response = self._error(exc, headers)
            outgoing = self._notifications(changes, correlator)
        if outgoing:
            if self.delivery_delay_seconds > 0:
                self._deliver_later(outgoing)
            else:
                self._deliver_all(outgoing)
        return response

    def _deliver_later(self, outgoing: list[Outgoing]) -> None:
        with self._lock:
            if self._deliverer is None or not self._deliverer.is_alive():
                self._deliverer = threading.Thread(
                    target=self._deliver_in_background, name="orion-notifications", daemon=True
                )
                self._deliverer.start()
        self._pending.put((time.monotonic() + self.delivery_delay_seconds, outgoing))

    def _deliver_in_background(self) -> None:
        while True:
            due, outgoing = self._pending.get()
            try:
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._released.wait()
                self._deliver_all(outgoing)
            except Exception:  # a receiver failing must not stop later deliveries
                logger.exception("delayed notification delivery failed")
            finally:
                self._pending.task_done()

    def hold_deliveries(self, held: bool = True) -> None:
        """Keep delayed notifications queued until called with ``held=False`` (for tests)."""
        if held:
            self._released.clear()
        else:
            self._released.set()

    def wait_for_deliveries(self, timeout: float = 60.0) -> bool:
        """Wait until every delayed notification has been delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._pending.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _error(self, exc: OrionError, headers: Headers) -> httpx.Response:
        body = {"error": exc.error, "description": exc.description}
        return respond(exc.status, [*headers, ("Content-Type", JSON_TYPE)], json_bytes(body))

    @staticmethod
    def _ok_json(body: Any, headers: Headers, total: int | None = None) -> httpx.Response:
        extra = [("Fiware-Total-Count", str(total))] if total is not None else []
        return respond(200, [*headers, *extra, ("Content-Type", JSON_TYPE)], json_bytes(body))

    def _root(self, request: httpx.Request, call: _Call) -> httpx.Response:
        return self._ok_json(
            {
                "entities_url": "/v2/entities",
                "types_url": "/v2/types",
                "subscriptions_url": "/v2/subscriptions",
                "registrations_url": "/v2/registrations",
            },
            call.headers,
        )

    # ------------------------------------------------------------------ headers and bodies

    @staticmethod
    def _service(request: httpx.Request) -> str:
        service = request.headers.get("fiware-service")
        if service is None:
            return ""
        service = service.lower()
        if len(service) > 50:
            raise bad_request("bad length - a tenant name can be max 50 characters long")
        if not re.fullmatch(r"[a-z0-9_]*", service):
            raise bad_request(
                "bad character in tenant name - "
                "only underscore and alphanumeric characters are allowed"
            )
        return service

    @staticmethod
    def _servicepath(request: httpx.Request, *, query: bool) -> str:
        header = request.headers.get("fiware-servicepath")
        if header is None or header.strip() == "":
            return "/#" if query else "/"
        paths = [p.strip() for p in header.split(",")]
        if not query and len(paths) > 1:
            raise bad_request("more than one service path in context update request")
        if len(paths) > 10:
            raise bad_request("too many service paths - a maximum of ten service paths is allowed")
        for path in paths:
            if not path.startswith("/"):
                raise bad_request(
                    "Only /absolute/ Service Paths allowed [a service path must begin with /]"
                )
            body = path[:-2] if query and path.endswith("/#") else path
            if "#" in body:
                raise bad_request("a component of ServicePath contains an illegal character")
            components = [c for c in body.split("/")[1:] if c != ""]
            if len(components) > 10:
                raise bad_request("too many components in ServicePath")
            for component in components:
                if len(component) > 50:
                    raise bad_request("component-name too long in ServicePath")
                if not re.fullmatch(r"[A-Za-z0-9_]+", component):
                    raise bad_request("a component of ServicePath contains an illegal character")
        return ",".join(p.rstrip("/") or "/" for p in paths)

    def _json_body(self, request: httpx.Request) -> Any:
        content_type = request.headers.get("content-type")
        if content_type is None:
            raise OrionError(
                415,
                "UnsupportedMediaType",
                "Content-Type header not used, default application/octet-stream is not supported",
            )
        mime = content_type.split(";")[0].strip().lower()
        if mime != "application/json":
            raise OrionError(
                415, "UnsupportedMediaType", f"not supported content type: {content_type}"
            )
        if not request.content.strip():
            raise OrionError(
                411, "ContentLengthRequired", "Zero/No Content-Length in PUT/POST/PATCH request"
            )
        try:
            return parse_json(request.content)
        except InvalidJSON:
            raise OrionError(400, "ParseError", "Errors found in incoming JSON buffer") from None

    def _write_request(self, request: httpx.Request) -> tuple[str, dict[str, Any], set[str]]:
        """The servicepath, the JSON object body and the options of an entity write."""
        servicepath = self._servicepath(request, query=False)
        body = self._json_body(request)
        options = self._options(request)
        if not isinstance(body, dict):
            raise bad_request("Errors found in incoming JSON buffer")
        return servicepath, body, options

    @staticmethod
    def _options(request: httpx.Request) -> set[str]:
        raw = request.url.params.get("options", "")
        options = {o.strip() for o in raw.split(",") if o.strip()}
        allowed = {
            "count",
            "keyValues",
            "values",
            "unique",
            "append",
            "upsert",
            "noAttrDetail",
            "forcedUpdate",
            "overrideMetadata",
            "skipInitialNotification",
            "flowControl",
        }
        unknown = options - allowed
        if unknown:
            raise bad_request(f"Invalid value for URI param /options/: {sorted(unknown)[0]}")
        return options

    # ------------------------------------------------------------------ attribute parsing

    def _parse_attributes(
        self, body: Mapping[str, Any], key_values: bool, *, skip: Iterable[str] = ("id", "type")
    ) -> dict[str, dict[str, Any]]:
        """Validate incoming attributes into {type, value, metadata} (None where not given)."""
        skipped = set(skip)
        parsed: dict[str, dict[str, Any]] = {}
        for name, raw in body.items():
            if name in skipped:
                continue
            check_name(name, "attribute name")
            if key_values:
                attr: dict[str, Any] = {"type": None, "value": raw, "metadata": None}
            else:
                if not isinstance(raw, dict):
                    raise bad_request(
                        "attribute must be a JSON object, unless keyValues option is used"
                    )
                attr = self._parse_attribute_object(raw)
            parsed[name] = attr
        return parsed

    def _parse_attribute_object(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        attr_type = raw.get("type")
        if attr_type is not None:
            check_name(attr_type, "attribute type")
        metadata_raw = raw.get("metadata")
        metadata: dict[str, dict[str, Any]] | None = None
        if metadata_raw is not None:
            if not isinstance(metadata_raw, dict):
                raise bad_request("metadata must be a JSON object")
            metadata = {}
            for meta_name, meta in metadata_raw.items():
                check_name(meta_name, "metadata name")
                if not isinstance(meta, dict):
                    raise bad_request("metadata must be a JSON object")
                meta_type = meta.get("type")
                if meta_type is not None:
                    check_name(meta_type, "metadata type")
                meta_value = meta.get("value")
                if has_forbidden(meta_value):
                    raise bad_request("Invalid characters in metadata value")
                meta_type = meta_type or infer_type(meta_value)
                if meta_type == "DateTime":
                    meta_value = normalize_datetime(meta_value)
                metadata[meta_name] = {"type": meta_type, "value": meta_value}
        return {"type": attr_type, "value": raw.get("value"), "metadata": metadata}

    @staticmethod
    def _finish_attribute(attr: dict[str, Any], previous: Attribute | None) -> Attribute:
        value = attr["value"]
        if has_forbidden(value):
            raise bad_request("Invalid characters in attribute value")
        attr_type = attr["type"]
        if attr_type is None:
            attr_type = previous.type if previous is not None else infer_type(value)
        if attr_type == "DateTime" and value is not None:
            value = normalize_datetime(value)
        metadata = dict(previous.metadata) if previous is not None else {}
        if attr["metadata"] is not None:
            metadata.update(attr["metadata"])
        return Attribute(attr_type, copy.deepcopy(value), metadata)

    @staticmethod
    def _changed(before: Attribute | None, after: Attribute) -> bool:
        if before is None:
            return True
        return (
            before.type != after.type
            or json_bytes(before.value) != json_bytes(after.value)
            or json_bytes(before.metadata) != json_bytes(after.metadata)
        )

    # ------------------------------------------------------------------ entity lookup

    def _find(
        self, service: str, scope: str, entity_id: str, entity_type: str | None
    ) -> list[Entity]:
        return [
            e
            for e in self._tenant(service).entities
            if e.id == entity_id
            and (entity_type is None or e.type == entity_type)
            and path_matches(scope, e.servicepath)
        ]

    def _find_one(self, service: str, scope: str, entity_id: str, request: httpx.Request) -> Entity:
        found = self._find(service, scope, entity_id, request.url.params.get("type"))
        if not found:
            raise not_found()
        if len(found) > 1:
            raise OrionError(
                409, "TooManyResults", "More than one matching entity. Please refine your query"
            )
        return found[0]

    # ------------------------------------------------------------------ rendering

    @staticmethod
    def _render_attribute(attribute: Attribute) -> dict[str, Any]:
        metadata = {
            name: rendered_numbers(attribute.metadata[name]) for name in sorted(attribute.metadata)
        }
        return {
            "type": attribute.type,
            "value": rendered_numbers(attribute.value),
            "metadata": metadata,
        }

    def _attribute_names(self, entity: Entity, attrs: list[str] | None) -> list[str]:
        if attrs is None or "*" in attrs:
            names = sorted(entity.attrs)
            if attrs is not None:
                names += [a for a in attrs if a in ("dateCreated", "dateModified")]
            return names
        return [a for a in attrs if a in entity.attrs or a in ("dateCreated", "dateModified")]

    def _attribute_view(self, entity: Entity, name: str) -> Attribute:
        if name == "dateCreated":
            return Attribute("DateTime", iso_seconds(entity.created))
        if name == "dateModified":
            return Attribute("DateTime", iso_seconds(entity.modified))
        return entity.attrs[name]

    def _render_entity(self, entity: Entity, attrs: list[str] | None, mode: str) -> Any:
        names = self._attribute_names(entity, attrs)
        if mode == "values":
            return [rendered_numbers(self._attribute_view(entity, n).value) for n in names]
        rendered: dict[str, Any] = {"id": entity.id, "type": entity.type}
        for name in names:
            attribute = self._attribute_view(entity, name)
            rendered[name] = (
                rendered_numbers(attribute.value)
                if mode == "keyValues"
                else self._render_attribute(attribute)
            )
        return rendered

    @staticmethod
    def _mode(options: set[str]) -> str:
        if "keyValues" in options:
            return "keyValues"
        if "values" in options or "unique" in options:
            return "values"
        return "normalized"

    @staticmethod
    def _attrs_param(request: httpx.Request) -> list[str] | None:
        raw = request.url.params.get("attrs")
        if raw is None:
            return None
        return [a.strip() for a in raw.split(",") if a.strip()]

    # ------------------------------------------------------------------ entities

    def _get_entity(self, request: httpx.Request, call: _Call, entity_id: str) -> httpx.Response:
        entity = self._find_one(
            call.service, self._servicepath(request, query=True), entity_id, request
        )
        options = self._options(request)
        body = self._render_entity(entity, self._attrs_param(request), self._mode(options))
        return self._ok_json(body, call.headers)

    def _delete_entity(self, request: httpx.Request, call: _Call, entity_id: str) -> httpx.Response:
        scope = self._servicepath(request, query=False)
        entity = self._find_one(call.service, scope, entity_id, request)
        self._tenant(call.service).entities.remove(entity)
        return respond(204, call.headers)

    def _create_entity(self, request: httpx.Request, call: _Call) -> httpx.Response:
        servicepath, body, options = self._write_request(request)
        if "id" not in body:
            raise bad_request("entity id length: 0, min length supported: 1")
        entity_id = _check_entity_id(body["id"])
        entity_type = check_name(body.get("type", "Thing"), "entity type", FORBIDDEN_ID_CHARS)
        attributes = self._parse_attributes(body, "keyValues" in options)
        location = [("Location", f"/v2/entities/{entity_id}?type={entity_type}")]
        existing = self._find(call.service, servicepath, entity_id, entity_type)
        if existing:
            if "upsert" not in options:
                raise unprocessable("Already Exists")
            self._apply(call.service, existing[0], attributes, call.changes, mode="append")
            return respond(204, [*call.headers, *location])
        entity = self._new_entity(call.service, servicepath, entity_id, entity_type, attributes)
        call.changes.append(Change(call.service, entity, set(entity.attrs)))
        return respond(204 if "upsert" in options else 201, [*call.headers, *location])

    def _new_entity(
        self,
        service: str,
        servicepath: str,
        entity_id: str,
        entity_type: str,
        attributes: Mapping[str, dict[str, Any]],
    ) -> Entity:
        now = time.time()
        entity = Entity(entity_id, entity_type, servicepath, created=now, modified=now)
        for name, attr in attributes.items():
            entity.attrs[name] = self._finish_attribute(attr, None)
        self._tenant(service).entities.append(entity)
        return entity

    def _apply(
        self,
        service: str,
        entity: Entity,
        attributes: Mapping[str, dict[str, Any]],
        changes: list[Change],
        *,
        mode: Literal["append", "appendStrict", "update", "replace"],
        forced: bool = False,
    ) -> None:
        """Write attributes into an existing entity and record the change; raises 422 listing
        offending names (after writing the others, as Orion does)."""
        offending: list[str] = []
        finished: dict[str, Attribute] = {}
        for name, attr in attributes.items():
            previous = entity.attrs.get(name)
            if mode == "appendStrict" and previous is not None:
                offending.append(name)
                continue
            if mode == "update" and previous is None:
                offending.append(name)
                continue
            finished[name] = self._finish_attribute(attr, previous if mode != "replace" else None)
        changed: set[str] = set()
        if mode == "replace":
            changed = set(entity.attrs) ^ set(finished)
            changed |= {n for n, a in finished.items() if self._changed(entity.attrs.get(n), a)}
            entity.attrs = dict(finished)
        else:
            for name, attribute in finished.items():
                if forced or self._changed(entity.attrs.get(name), attribute):
                    changed.add(name)
                entity.attrs[name] = attribute
        if finished or mode == "replace":
            entity.modified = time.time()
        changes.append(Change(service, entity, changed))
        if offending:
            names = ", ".join(offending)
            prefix = f"{entity.id} - " if self.version == "4.1.0" else ""
            if mode == "appendStrict":
                text = (
                    "one or more of the attributes in the request already exist: "
                    f"{prefix}[ {names} ]"
                )
            elif self.version == "4.1.0":
                text = f"do not exist: {prefix}[ {names} ]"
            else:
                text = f"one or more of the attributes in the request do not exist: [ {names} ]"
            raise unprocessable(text)

    def _get_entity_attrs(
        self, request: httpx.Request, call: _Call, entity_id: str
    ) -> httpx.Response:
        entity = self._find_one(
            call.service, self._servicepath(request, query=True), entity_id, request
        )
        rendered = self._render_entity(
            entity, self._attrs_param(request), self._mode(self._options(request))
        )
        if isinstance(rendered, dict):
            rendered.pop("id", None)
            rendered.pop("type", None)
        return self._ok_json(rendered, call.headers)

    def _write_entity_attrs(
        self, request: httpx.Request, call: _Call, entity_id: str
    ) -> httpx.Response:
        servicepath, body, options = self._write_request(request)
        attributes = self._parse_attributes(body, "keyValues" in options, skip=())
        entity = self._find_one(call.service, servicepath, entity_id, request)
        mode: Literal["append", "appendStrict", "update", "replace"]
        if request.method == "POST":
            mode = "appendStrict" if "append" in options else "append"
        else:
            mode = "update" if request.method == "PATCH" else "replace"
        forced = "forcedUpdate" in options
        self._apply(call.service, entity, attributes, call.changes, mode=mode, forced=forced)
        return respond(204, call.headers)

    def _attribute(
        self, request: httpx.Request, service: str, entity_id: str, attr_name: str, *, query: bool
    ) -> Entity:
        """The entity, which must have ``attr_name`` (else 404)."""
        scope = self._servicepath(request, query=query)
        entity = self._find_one(service, scope, entity_id, request)
        if attr_name not in entity.attrs:
            raise not_found(ATTRIBUTE_NOT_FOUND)
        return entity

    def _get_attribute(
        self, request: httpx.Request, call: _Call, entity_id: str, attr_name: str
    ) -> httpx.Response:
        entity = self._attribute(request, call.service, entity_id, attr_name, query=True)
        return self._ok_json(self._render_attribute(entity.attrs[attr_name]), call.headers)

    def _delete_attribute(
        self, request: httpx.Request, call: _Call, entity_id: str, attr_name: str
    ) -> httpx.Response:
        entity = self._attribute(request, call.service, entity_id, attr_name, query=False)
        del entity.attrs[attr_name]
        entity.modified = time.time()
        return respond(204, call.headers)

    def _put_attribute(
        self, request: httpx.Request, call: _Call, entity_id: str, attr_name: str
    ) -> httpx.Response:
        servicepath = self._servicepath(request, query=False)
        entity = self._find_one(call.service, servicepath, entity_id, request)
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise bad_request("attribute must be a JSON object")
        if attr_name not in entity.attrs:
            raise not_found(ATTRIBUTE_NOT_FOUND)
        parsed = self._parse_attribute_object(body)
        self._apply(call.service, entity, {attr_name: parsed}, call.changes, mode="update")
        return respond(204, call.headers)

    def _get_attribute_value(
        self, request: httpx.Request, call: _Call, entity_id: str, attr_name: str
    ) -> httpx.Response:
        entity = self._attribute(request, call.service, entity_id, attr_name, query=True)
        value = rendered_numbers(entity.attrs[attr_name].value)
        accept = (request.headers.get("accept") or "*/*").lower()
        if isinstance(value, dict | list):
            if not any(m in accept for m in ("application/json", "*/*", "text/plain")):
                raise OrionError(
                    406, "NotAcceptable", "accepted MIME types: application/json, text/plain"
                )
            return self._ok_json(value, call.headers)
        if not any(m in accept for m in ("text/plain", "*/*")):
            raise OrionError(406, "NotAcceptable", "accepted MIME types: text/plain")
        return respond(200, [*call.headers, ("Content-Type", "text/plain")], json_bytes(value))

    def _put_attribute_value(
        self, request: httpx.Request, call: _Call, entity_id: str, attr_name: str
    ) -> httpx.Response:
        servicepath = self._servicepath(request, query=False)
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type == "text/plain":
            text = request.content.decode("utf-8", "replace").strip()
            try:
                value = parse_json(text.encode("utf-8"))
            except InvalidJSON:
                raise bad_request("Missing citation-mark at end of string") from None
            if isinstance(value, dict | list):
                raise bad_request("invalid text/plain value")
        else:
            value = self._json_body(request)
        entity = self._find_one(call.service, servicepath, entity_id, request)
        if attr_name not in entity.attrs:
            raise not_found(ATTRIBUTE_NOT_FOUND)
        attributes = {attr_name: {"type": None, "value": value, "metadata": None}}
        self._apply(call.service, entity, attributes, call.changes, mode="update")
        return respond(204, call.headers)

    # ------------------------------------------------------------------ lists

    @staticmethod
    def _paging(request: httpx.Request) -> tuple[int, int]:
        raw_limit = request.url.params.get("limit")
        raw_offset = request.url.params.get("offset")
        limit = DEFAULT_LIMIT
        offset = 0
        if raw_limit is not None:
            if not re.fullmatch(r"\d+", raw_limit):
                raise bad_request(f"Bad pagination limit: /{raw_limit}/ [must be a decimal number]")
            limit = int(raw_limit)
            if limit > MAX_LIMIT:
                raise bad_request(f"Bad pagination limit: /{raw_limit}/ [max: {MAX_LIMIT}]")
        if raw_offset is not None:
            if not re.fullmatch(r"\d+", raw_offset):
                raise bad_request(
                    f"Bad pagination offset: /{raw_offset}/ [must be a decimal number]"
                )
            offset = int(raw_offset)
        return limit, offset

    def _list_entities(self, request: httpx.Request, call: _Call) -> httpx.Response:
        scope = self._servicepath(request, query=True)
        options = self._options(request)
        limit, offset = self._paging(request)
        q = request.url.params
        ids = set(q["id"].split(",")) if "id" in q else None
        types = set(q["type"].split(",")) if "type" in q else None
        try:
            id_pattern = re.compile(q["idPattern"]) if "idPattern" in q else None
            type_pattern = re.compile(q["typePattern"]) if "typePattern" in q else None
        except re.error:
            raise bad_request("Invalid regex for entity id pattern") from None
        try:
            predicate = parse_q(q["q"]) if "q" in q else None
        except QueryError:
            raise bad_request("invalid character found in URI param /q/") from None
        selected = []
        for entity in self._tenant(call.service).entities:
            if not path_matches(scope, entity.servicepath):
                continue
            if ids is not None and entity.id not in ids:
                continue
            if types is not None and entity.type not in types:
                continue
            if id_pattern is not None and not id_pattern.search(entity.id):
                continue
            if type_pattern is not None and not type_pattern.search(entity.type):
                continue
            if predicate is not None and not predicate(
                {name: (a.type, a.value) for name, a in entity.attrs.items()}
            ):
                continue
            selected.append(entity)
        order_by = q.get("orderBy")
        if order_by:
            for term in reversed([t.strip() for t in order_by.split(",") if t.strip()]):
                descending = term.startswith("!")
                name = term.lstrip("!")
                selected.sort(key=self._order_key(name), reverse=descending)
        total = len(selected)
        page = selected[offset : offset + limit] if limit > 0 else []
        mode = self._mode(options)
        attrs = self._attrs_param(request)
        body = [self._render_entity(e, attrs, mode) for e in page]
        return self._ok_json(body, call.headers, total if "count" in options else None)

    @classmethod
    def _order_key(cls, name: str) -> Callable[[Entity], tuple[int, Any]]:
        return lambda entity: sort_key(cls._order_value(entity, name))

    @staticmethod
    def _order_value(entity: Entity, name: str) -> Any:
        if name == "id":
            return entity.id
        if name == "type":
            return entity.type
        if name == "dateCreated":
            return entity.created
        if name == "dateModified":
            return entity.modified
        attribute = entity.attrs.get(name)
        return None if attribute is None else attribute.value

    def _types(
        self, request: httpx.Request, call: _Call, type_name: str | None = None
    ) -> httpx.Response:
        scope = self._servicepath(request, query=True)
        options = self._options(request)
        summary: dict[str, dict[str, Any]] = {}
        for entity in self._tenant(call.service).entities:
            if not path_matches(scope, entity.servicepath):
                continue
            info = summary.setdefault(entity.type, {"attrs": {}, "count": 0})
            info["count"] += 1
            for name, attribute in entity.attrs.items():
                info["attrs"].setdefault(name, set()).add(attribute.type)

        def render(type_name: str) -> dict[str, Any]:
            info = summary[type_name]
            return {
                "type": type_name,
                "attrs": {
                    name: {"types": sorted(info["attrs"][name])} for name in sorted(info["attrs"])
                },
                "count": info["count"],
            }

        if type_name is not None:
            if type_name not in summary:
                raise not_found("Entity type not found")
            body = render(type_name)
            body.pop("type")
            return self._ok_json(body, call.headers)
        limit, offset = self._paging(request)
        names = sorted(summary)
        page = names[offset : offset + limit] if limit > 0 else []
        rendered: list[Any] = page if "values" in options else [render(n) for n in page]
        return self._ok_json(rendered, call.headers, len(names) if "count" in options else None)

    # ------------------------------------------------------------------ batch

    def _batch(self, request: httpx.Request, call: _Call) -> httpx.Response:
        servicepath = self._servicepath(request, query=False)
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise bad_request("Errors found in incoming JSON buffer")
        action = body.get("actionType")
        if action not in BATCH_ACTIONS:
            raise bad_request(
                "invalid update action type: right ones are: "
                "append, appendStric, delete, replace, update"
            )
        entities = body.get("entities")
        if not isinstance(entities, list):
            raise bad_request("Invalid JSON type for entities")
        prepared = []
        for raw in entities:
            if not isinstance(raw, dict):
                raise bad_request("Invalid JSON type for entity")
            if "id" not in raw:
                raise bad_request("entity id length: 0, min length supported: 1")
            entity_id = check_name(raw["id"], "entity id", FORBIDDEN_ID_CHARS)
            entity_type = raw.get("type")
            if entity_type is not None:
                check_name(entity_type, "entity type", FORBIDDEN_ID_CHARS)
            prepared.append((entity_id, entity_type, self._parse_attributes(raw, False)))
        first_error: OrionError | None = None
        for entity_id, entity_type, attributes in prepared:
            found = self._find(call.service, servicepath, entity_id, entity_type)
            try:
                if action in ("append", "appendStrict"):
                    if found:
                        self._apply(call.service, found[0], attributes, call.changes, mode=action)
                    else:
                        entity = self._new_entity(
                            call.service, servicepath, entity_id, entity_type or "Thing", attributes
                        )
                        call.changes.append(Change(call.service, entity, set(entity.attrs)))
                    continue
                if not found:
                    if self.version == "4.1.0":
                        raise not_found(
                            f"do not exist: {entity_id}/{entity_type or ''} - [entity itself]"
                        )
                    raise not_found()
                entity = found[0]
                if action == "delete":
                    if attributes:
                        missing = [n for n in attributes if n not in entity.attrs]
                        for name in attributes:
                            entity.attrs.pop(name, None)
                        if missing:
                            raise unprocessable(
                                "one or more of the attributes in the request do not exist: "
                                f"[ {', '.join(missing)} ]"
                            )
                    else:
                        self._tenant(call.service).entities.remove(entity)
                    continue
                mode: Literal["update", "replace"] = "update" if action == "update" else "replace"
                self._apply(call.service, entity, attributes, call.changes, mode=mode)
            except OrionError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return respond(204, call.headers)

    # ------------------------------------------------------------------ subscriptions

    def _create_subscription(self, request: httpx.Request, call: _Call) -> httpx.Response:
        servicepath = self._servicepath(request, query=False)
        body = self._json_body(request)
        subscription = parse_subscription(
            body, servicepath, version=self.version, new_id=new_object_id
        )
        self._tenant(call.service).subscriptions[subscription.id] = subscription
        return respond(201, [*call.headers, ("Location", f"/v2/subscriptions/{subscription.id}")])

    def _list_subscriptions(self, request: httpx.Request, call: _Call) -> httpx.Response:
        scope = self._servicepath(request, query=True)
        options = self._options(request)
        limit, offset = self._paging(request)
        visible = [
            sub
            for sub in self._tenant(call.service).subscriptions.values()
            if request.headers.get("fiware-servicepath") is None
            or path_matches(scope, sub.servicepath)
        ]
        page = visible[offset : offset + limit] if limit > 0 else []
        body = [render_subscription(sub) for sub in page]
        return self._ok_json(body, call.headers, len(visible) if "count" in options else None)

    def _subscription(self, service: str, sub_id: str) -> Subscription:
        found = self._tenant(service).subscriptions.get(sub_id)
        if found is None:
            raise not_found(SUBSCRIPTION_NOT_FOUND)
        return found

    def _get_subscription(self, request: httpx.Request, call: _Call, sub_id: str) -> httpx.Response:
        return self._ok_json(
            render_subscription(self._subscription(call.service, sub_id)), call.headers
        )

    def _delete_subscription(
        self, request: httpx.Request, call: _Call, sub_id: str
    ) -> httpx.Response:
        self._subscription(call.service, sub_id)
        del self._tenant(call.service).subscriptions[sub_id]
        return respond(204, call.headers)

    def _patch_subscription(
        self, request: httpx.Request, call: _Call, sub_id: str
    ) -> httpx.Response:
        found = self._subscription(call.service, sub_id)
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise bad_request("Errors found in incoming JSON buffer")
        merged = subscription_request(found)
        merged.update(body)
        updated = parse_subscription(
            merged, found.servicepath, version=self.version, new_id=new_object_id, sub_id=sub_id
        )
        for name in (
            "times_sent",
            "last_notification",
            "last_success",
            "last_success_code",
            "last_failure",
            "last_failure_reason",
            "fails_counter",
        ):
            setattr(updated, name, getattr(found, name))
        self._tenant(call.service).subscriptions[sub_id] = updated
        return respond(204, call.headers)

    # ------------------------------------------------------------------ notifications

    def _notifications(self, changes: list[Change], correlator: str) -> list[Outgoing]:
        outgoing: list[Outgoing] = []
        now = time.time()
        for change in changes:
            if not change.changed:
                continue
            tenant = self._tenant(change.tenant)
            for sub in list(tenant.subscriptions.values()):
                if not subject_matches(sub, change.entity):
                    continue
                if sub.status != "active" and sub.status != "oneshot":
                    continue
                if sub.expires is not None and sub.expires < now:
                    continue
                if not path_matches(sub.servicepath, change.entity.servicepath):
                    continue
                condition = sub.subject["condition"]
                watched = condition["attrs"]
                relevant = change.changed if not watched else change.changed & set(watched)
                if not relevant:
                    continue
                expression = condition.get("expression")
                if isinstance(expression, dict) and "q" in expression:
                    view = {n: (a.type, a.value) for n, a in change.entity.attrs.items()}
                    if not parse_q(str(expression["q"]))(view):
                        continue
                if (
                    sub.throttling
                    and sub.last_notification is not None
                    and now - sub.last_notification < sub.throttling
                ):
                    continue
                sub.times_sent += 1
                sub.last_notification = now
                if sub.status == "oneshot":
                    sub.status = "inactive"
                outgoing.append(
                    build_notification(
                        sub,
                        change,
                        f"{correlator}; cbnotif={len(outgoing) + 1}",
                        version=self.version,
                        render_entity=self._render_entity,
                    )
                )
        return outgoing

    def _deliver_all(self, outgoing: list[Outgoing]) -> None:
        for item in outgoing:
            status, reason = self._delivery.deliver(item)
            with self._lock:
                sub = self._tenant(item.tenant).subscriptions.get(item.subscription_id)
                if sub is None:
                    continue
                now = time.time()
                if status is not None:
                    sub.last_success = now
                    sub.last_success_code = status
                    sub.fails_counter = 0
                else:
                    sub.last_failure = now
                    sub.last_failure_reason = reason
                    sub.fails_counter += 1

    # ------------------------------------------------------------------ version

    def _version_text(self) -> str:
        build = datetime.fromtimestamp(self._started, tz=UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        text = (
            "{\n"
            '"orion" : {\n'
            f'  "version" : "{self.version}",\n'
            f'  "uptime" : "{uptime_text(time.time() - self._started)}",\n'
            '  "git_hash" : "nogitversion",\n'
            f'  "compile_time" : "{build}",\n'
            '  "compiled_by" : "chronos",\n'
            '  "compiled_in" : "sandbox",\n'
            f'  "release_date" : "{build}",\n'
            '  "machine" : "x86_64",\n'
            f'  "doc" : "https://fiware-orion.rtfd.io/en/{self.version}/"'
        )
        if self.version == "3.10.1":
            text += ",\n" + _LIBVERSIONS
        else:
            text += "\n"
        return text + "}\n}\n"
