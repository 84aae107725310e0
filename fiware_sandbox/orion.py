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
from typing import Any, Literal

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
    build_notification,
    parse_subscription,
    render_subscription,
    subject_matches,
    subscription_request,
)
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import (
    InvalidJSON,
    json_bytes,
    new_object_id,
    parse_json,
    path_segments,
    respond,
    time_correlator,
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
        self._deliverer: threading.Thread | None = None
        self._tenants: dict[str, TenantData] = {}
        self._started = time.time()

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

    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        correlator = request.headers.get("fiware-correlator") or time_correlator()
        base_headers = [("Fiware-Correlator", correlator)]
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
                return respond(
                    200,
                    [*base_headers, ("Content-Type", JSON_TYPE)],
                    self._version_text().encode("utf-8"),
                )
            segments = path_segments(request)
            if not segments or segments[0] != "v2":
                raise bad_request(f"service '{request.url.path}' not found")
        except OrionError as exc:
            return self._error(exc, base_headers)
        with self._lock:
            try:
                response, changes = self._route(request, segments[1:], base_headers)
            except OrionError as exc:
                response = self._error(exc, base_headers)
                changes = getattr(exc, "changes", [])
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
                self._deliver_all(outgoing)
            except Exception:  # a receiver failing must not stop later deliveries
                logger.exception("delayed notification delivery failed")
            finally:
                self._pending.task_done()

    def wait_for_deliveries(self, timeout: float = 60.0) -> bool:
        """Wait until every delayed notification has been delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._pending.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _error(self, exc: OrionError, headers: list[tuple[str, str]]) -> httpx.Response:
        body = {"error": exc.error, "description": exc.description}
        return respond(exc.status, [*headers, ("Content-Type", JSON_TYPE)], json_bytes(body))

    @staticmethod
    def _ok_json(
        body: Any, headers: list[tuple[str, str]], total: int | None = None
    ) -> httpx.Response:
        extra = [("Fiware-Total-Count", str(total))] if total is not None else []
        return respond(200, [*headers, *extra, ("Content-Type", JSON_TYPE)], json_bytes(body))

    def _route(
        self, request: httpx.Request, s: list[str], headers: list[tuple[str, str]]
    ) -> tuple[httpx.Response, list[Change]]:
        method = request.method
        service = self._service(request)
        if s == [] and method == "GET":
            return self._ok_json(
                {
                    "entities_url": "/v2/entities",
                    "types_url": "/v2/types",
                    "subscriptions_url": "/v2/subscriptions",
                    "registrations_url": "/v2/registrations",
                },
                headers,
            ), []
        if s and s[0] == "entities":
            return self._route_entities(request, service, s[1:], headers)
        if s == ["op", "update"] and method == "POST":
            servicepath = self._servicepath(request, query=False)
            body = self._json_body(request)
            return respond(204, headers), self._batch(service, servicepath, body)
        if s and s[0] == "types" and method == "GET":
            return self._types(request, service, s[1:], headers), []
        if s and s[0] == "subscriptions":
            return self._route_subscriptions(request, service, s[1:], headers), []
        if s and s[0] in ("entities", "types", "subscriptions", "op"):
            raise OrionError(405, "MethodNotAllowed", "method not allowed")
        raise bad_request(f"service '{request.url.path}' not found")

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

    def _find_one(
        self, service: str, scope: str, entity_id: str, entity_type: str | None
    ) -> Entity:
        found = self._find(service, scope, entity_id, entity_type)
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

    def _route_entities(
        self, request: httpx.Request, service: str, s: list[str], headers: list[tuple[str, str]]
    ) -> tuple[httpx.Response, list[Change]]:
        method = request.method
        if not s:
            if method == "GET":
                return self._list_entities(request, service, headers), []
            if method == "POST":
                return self._create_entity(request, service, headers)
            raise OrionError(405, "MethodNotAllowed", "method not allowed")
        entity_id = check_name(s[0], "entity id", FORBIDDEN_ID_CHARS)
        entity_type = request.url.params.get("type")
        if len(s) == 1:
            if method == "GET":
                scope = self._servicepath(request, query=True)
                entity = self._find_one(service, scope, entity_id, entity_type)
                options = self._options(request)
                body = self._render_entity(entity, self._attrs_param(request), self._mode(options))
                return self._ok_json(body, headers), []
            if method == "DELETE":
                scope = self._servicepath(request, query=False)
                entity = self._find_one(service, scope, entity_id, entity_type)
                self._tenant(service).entities.remove(entity)
                return respond(204, headers), []
            raise OrionError(405, "MethodNotAllowed", "method not allowed")
        if s[1] != "attrs":
            raise bad_request(f"service '{request.url.path}' not found")
        if len(s) == 2:
            return self._entity_attrs(request, service, entity_id, entity_type, headers)
        attr_name = s[2]
        if len(s) == 3:
            return self._single_attribute(
                request, service, entity_id, entity_type, attr_name, headers
            )
        if len(s) == 4 and s[3] == "value":
            return self._attribute_value(
                request, service, entity_id, entity_type, attr_name, headers
            )
        raise bad_request(f"service '{request.url.path}' not found")

    def _create_entity(
        self, request: httpx.Request, service: str, headers: list[tuple[str, str]]
    ) -> tuple[httpx.Response, list[Change]]:
        servicepath = self._servicepath(request, query=False)
        body = self._json_body(request)
        options = self._options(request)
        if not isinstance(body, dict):
            raise bad_request("Errors found in incoming JSON buffer")
        if "id" not in body:
            raise bad_request("entity id length: 0, min length supported: 1")
        entity_id = check_name(body["id"], "entity id", FORBIDDEN_ID_CHARS)
        entity_type = check_name(body.get("type", "Thing"), "entity type", FORBIDDEN_ID_CHARS)
        attributes = self._parse_attributes(body, "keyValues" in options)
        location = [("Location", f"/v2/entities/{entity_id}?type={entity_type}")]
        existing = self._find(service, servicepath, entity_id, entity_type)
        if existing:
            if "upsert" not in options:
                raise unprocessable("Already Exists")
            change = self._apply(service, existing[0], attributes, mode="append")
            return respond(204, [*headers, *location]), [change]
        entity = self._new_entity(service, servicepath, entity_id, entity_type, attributes)
        status = 204 if "upsert" in options else 201
        return respond(status, [*headers, *location]), [Change(service, entity, set(entity.attrs))]

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
        *,
        mode: Literal["append", "appendStrict", "update", "replace"],
        forced: bool = False,
    ) -> Change:
        """Write attributes into an existing entity; raises 422 listing offending names."""
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
        change = Change(service, entity, changed)
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
            error = unprocessable(text)
            error.change = change  # type: ignore[attr-defined]
            raise error
        return change

    def _apply_reporting(
        self, service: str, entity: Entity, attributes: Mapping[str, dict[str, Any]], **kwargs: Any
    ) -> tuple[list[Change], OrionError | None]:
        try:
            return [self._apply(service, entity, attributes, **kwargs)], None
        except OrionError as exc:
            partial = getattr(exc, "change", None)
            return ([partial] if partial is not None and partial.changed else []), exc

    def _entity_attrs(
        self,
        request: httpx.Request,
        service: str,
        entity_id: str,
        entity_type: str | None,
        headers: list[tuple[str, str]],
    ) -> tuple[httpx.Response, list[Change]]:
        method = request.method
        if method == "GET":
            scope = self._servicepath(request, query=True)
            entity = self._find_one(service, scope, entity_id, entity_type)
            rendered = self._render_entity(
                entity, self._attrs_param(request), self._mode(self._options(request))
            )
            if isinstance(rendered, dict):
                rendered.pop("id", None)
                rendered.pop("type", None)
            return self._ok_json(rendered, headers), []
        if method not in ("POST", "PATCH", "PUT"):
            raise OrionError(405, "MethodNotAllowed", "method not allowed")
        servicepath = self._servicepath(request, query=False)
        body = self._json_body(request)
        options = self._options(request)
        if not isinstance(body, dict):
            raise bad_request("Errors found in incoming JSON buffer")
        attributes = self._parse_attributes(body, "keyValues" in options, skip=())
        entity = self._find_one(service, servicepath, entity_id, entity_type)
        mode: Literal["append", "appendStrict", "update", "replace"]
        if method == "POST":
            mode = "appendStrict" if "append" in options else "append"
        elif method == "PATCH":
            mode = "update"
        else:
            mode = "replace"
        changes, error = self._apply_reporting(
            service, entity, attributes, mode=mode, forced="forcedUpdate" in options
        )
        if error is not None:
            error.changes = changes  # type: ignore[attr-defined]
            raise error
        return respond(204, headers), changes

    def _single_attribute(
        self,
        request: httpx.Request,
        service: str,
        entity_id: str,
        entity_type: str | None,
        attr_name: str,
        headers: list[tuple[str, str]],
    ) -> tuple[httpx.Response, list[Change]]:
        method = request.method
        if method == "GET":
            scope = self._servicepath(request, query=True)
            entity = self._find_one(service, scope, entity_id, entity_type)
            if attr_name not in entity.attrs:
                raise not_found(ATTRIBUTE_NOT_FOUND)
            return self._ok_json(self._render_attribute(entity.attrs[attr_name]), headers), []
        servicepath = self._servicepath(request, query=False)
        entity = self._find_one(service, servicepath, entity_id, entity_type)
        if method == "DELETE":
            if attr_name not in entity.attrs:
                raise not_found(ATTRIBUTE_NOT_FOUND)
            del entity.attrs[attr_name]
            entity.modified = time.time()
            return respond(204, headers), []
        if method == "PUT":
            body = self._json_body(request)
            if not isinstance(body, dict):
                raise bad_request("attribute must be a JSON object")
            if attr_name not in entity.attrs:
                raise not_found(ATTRIBUTE_NOT_FOUND)
            parsed = self._parse_attribute_object(body)
            change = self._apply(service, entity, {attr_name: parsed}, mode="update")
            return respond(204, headers), [change]
        raise OrionError(405, "MethodNotAllowed", "method not allowed")

    def _attribute_value(
        self,
        request: httpx.Request,
        service: str,
        entity_id: str,
        entity_type: str | None,
        attr_name: str,
        headers: list[tuple[str, str]],
    ) -> tuple[httpx.Response, list[Change]]:
        method = request.method
        if method == "GET":
            scope = self._servicepath(request, query=True)
            entity = self._find_one(service, scope, entity_id, entity_type)
            if attr_name not in entity.attrs:
                raise not_found(ATTRIBUTE_NOT_FOUND)
            value = entity.attrs[attr_name].value
            accept = (request.headers.get("accept") or "*/*").lower()
            value = rendered_numbers(value)
            if isinstance(value, dict | list):
                if not any(m in accept for m in ("application/json", "*/*", "text/plain")):
                    raise OrionError(
                        406, "NotAcceptable", "accepted MIME types: application/json, text/plain"
                    )
                return self._ok_json(value, headers), []
            if not any(m in accept for m in ("text/plain", "*/*")):
                raise OrionError(406, "NotAcceptable", "accepted MIME types: text/plain")
            return respond(200, [*headers, ("Content-Type", "text/plain")], json_bytes(value)), []
        if method != "PUT":
            raise OrionError(405, "MethodNotAllowed", "method not allowed")
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
        entity = self._find_one(service, servicepath, entity_id, entity_type)
        if attr_name not in entity.attrs:
            raise not_found(ATTRIBUTE_NOT_FOUND)
        change = self._apply(
            service,
            entity,
            {attr_name: {"type": None, "value": value, "metadata": None}},
            mode="update",
        )
        return respond(204, headers), [change]

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

    def _list_entities(
        self, request: httpx.Request, service: str, headers: list[tuple[str, str]]
    ) -> httpx.Response:
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
        for entity in self._tenant(service).entities:
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
        return self._ok_json(body, headers, total if "count" in options else None)

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
        self, request: httpx.Request, service: str, s: list[str], headers: list[tuple[str, str]]
    ) -> httpx.Response:
        scope = self._servicepath(request, query=True)
        options = self._options(request)
        summary: dict[str, dict[str, Any]] = {}
        for entity in self._tenant(service).entities:
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

        if s:
            if s[0] not in summary:
                raise not_found("Entity type not found")
            body = render(s[0])
            body.pop("type")
            return self._ok_json(body, headers)
        limit, offset = self._paging(request)
        names = sorted(summary)
        page = names[offset : offset + limit] if limit > 0 else []
        rendered: list[Any] = page if "values" in options else [render(n) for n in page]
        return self._ok_json(rendered, headers, len(names) if "count" in options else None)

    # ------------------------------------------------------------------ batch

    def _batch(self, service: str, servicepath: str, body: Any) -> list[Change]:
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
        changes: list[Change] = []
        first_error: OrionError | None = None
        for entity_id, entity_type, attributes in prepared:
            found = self._find(service, servicepath, entity_id, entity_type)
            try:
                if action in ("append", "appendStrict"):
                    if not found:
                        entity = self._new_entity(
                            service, servicepath, entity_id, entity_type or "Thing", attributes
                        )
                        changes.append(Change(service, entity, set(entity.attrs)))
                        continue
                    more, error = self._apply_reporting(service, found[0], attributes, mode=action)
                    changes += more
                    if error is not None:
                        raise error
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
                        self._tenant(service).entities.remove(entity)
                    continue
                more, error = self._apply_reporting(
                    service, entity, attributes, mode="update" if action == "update" else "replace"
                )
                changes += more
                if error is not None:
                    raise error
            except OrionError as exc:
                first_error = first_error or exc
        if first_error is not None:
            first_error.changes = changes  # type: ignore[attr-defined]
            raise first_error
        return changes

    # ------------------------------------------------------------------ subscriptions

    def _route_subscriptions(
        self, request: httpx.Request, service: str, s: list[str], headers: list[tuple[str, str]]
    ) -> httpx.Response:
        method = request.method
        subscriptions = self._tenant(service).subscriptions
        if not s:
            if method == "POST":
                servicepath = self._servicepath(request, query=False)
                body = self._json_body(request)
                subscription = parse_subscription(
                    body, servicepath, version=self.version, new_id=new_object_id
                )
                subscriptions[subscription.id] = subscription
                return respond(
                    201, [*headers, ("Location", f"/v2/subscriptions/{subscription.id}")]
                )
            if method == "GET":
                scope = self._servicepath(request, query=True)
                options = self._options(request)
                limit, offset = self._paging(request)
                visible = [
                    sub
                    for sub in subscriptions.values()
                    if request.headers.get("fiware-servicepath") is None
                    or path_matches(scope, sub.servicepath)
                ]
                page = visible[offset : offset + limit] if limit > 0 else []
                body = [render_subscription(sub) for sub in page]
                return self._ok_json(body, headers, len(visible) if "count" in options else None)
            raise OrionError(405, "MethodNotAllowed", "method not allowed")
        sub_id = s[0]
        if len(sub_id) != 24:
            raise bad_request("Invalid subscription ID: bad length - 24 chars expected")
        if not re.fullmatch(r"[0-9a-fA-F]{24}", sub_id):
            raise bad_request("Invalid subscription ID: invalid character - hex chars expected")
        found = subscriptions.get(sub_id)
        if found is None:
            raise not_found(SUBSCRIPTION_NOT_FOUND)
        if method == "GET":
            return self._ok_json(render_subscription(found), headers)
        if method == "DELETE":
            del subscriptions[sub_id]
            return respond(204, headers)
        if method == "PATCH":
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
            subscriptions[sub_id] = updated
            return respond(204, headers)
        raise OrionError(405, "MethodNotAllowed", "method not allowed")

    # ------------------------------------------------------------------ notifications

    def _notifications(self, changes: list[Change], correlator: str) -> list[Outgoing]:
        outgoing: list[Outgoing] = []
        now = time.time()
        for change in changes:
            if not change.changed:
                continue
            tenant = self._tenant(change.tenant)
            for sub in list(tenant.subscriptions.values()):
                if sub.status != "active" and sub.status != "oneshot":
                    continue
                if sub.expires is not None and sub.expires < now:
                    continue
                if not path_matches(sub.servicepath, change.entity.servicepath):
                    continue
                if not subject_matches(sub, change.entity):
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
        uptime = int(time.time() - self._started)
        days, rest = divmod(uptime, 86_400)
        hours, rest = divmod(rest, 3_600)
        minutes, seconds = divmod(rest, 60)
        build = datetime.fromtimestamp(self._started, tz=UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        text = (
            "{\n"
            '"orion" : {\n'
            f'  "version" : "{self.version}",\n'
            f'  "uptime" : "{days} d, {hours} h, {minutes} m, {seconds} s",\n'
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
