"""In-memory emulation of the IoT Agent northbound API (iotagent-node-lib 4.14).

Devices (``/iot/devices``) and service groups (``/iot/services``) with the recorded answers
(``shared/contracts/iot-agent.json``): 201 ``{}`` on creation, 204 on update/delete, both FIWARE
headers mandatory, ``{name, message}`` errors, 500 on invalid JSON and Express' HTML 404 page.
``registry`` selects the MongoDB (default) or memory device-registry behaviour.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

import httpx

from fiware_sandbox.faults import Fault
from fiware_sandbox.routing import Router
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import (
    Headers,
    InvalidJSON,
    encode_json,
    json_bytes,
    new_object_id,
    now_ms,
    parse_json,
    random_correlator,
    raw_path,
    respond,
)

Registry = Literal["mongodb", "memory"]


class _Call(NamedTuple):
    body: Any  # the parsed JSON body, or None
    headers: Headers


JSON_TYPE = "application/json; charset=utf-8"
LIB_VERSION = "4.14.0"

# Provisioning API field -> internal device field, in the order the library builds a device.
_DEVICE_FIELDS = (
    ("device_id", "id"),
    ("apikey", "apikey"),
    ("entity_type", "type"),
    ("entity_name", "name"),
    ("service", "service"),
    ("subservice", "subservice"),
    ("attributes", "active"),
    ("static_attributes", "staticAttributes"),
    ("lazy", "lazy"),
    ("commands", "commands"),
    ("timezone", "timezone"),
    ("timestamp", "timestamp"),
    ("endpoint", "endpoint"),
    ("internal_attributes", "internalAttributes"),
    ("protocol", "protocol"),
    ("transport", "transport"),
    ("internalId", "internalId"),
    ("autoprovision", "autoprovision"),
    ("explicitAttrs", "explicitAttrs"),
    ("ngsiVersion", "ngsiVersion"),
    ("payloadType", "payloadType"),
    ("useCBflowControl", "useCBflowControl"),
    ("storeLastMeasure", "storeLastMeasure"),
    ("lastMeasure", "lastMeasure"),
)
_API_TO_INTERNAL = {api: internal for api, internal in _DEVICE_FIELDS}
# Order of the Provisioning API rendering of a device.
_RENDER_ORDER = (
    ("device_id", "id"),
    ("apikey", "apikey"),
    ("service", "service"),
    ("service_path", "subservice"),
    ("entity_name", "name"),
    ("entity_type", "type"),
    ("timezone", "timezone"),
    ("timestamp", "timestamp"),
    ("endpoint", "endpoint"),
    ("polling", "polling"),
    ("transport", "transport"),
    ("attributes", "active"),
    ("lazy", "lazy"),
    ("commands", "commands"),
    ("static_attributes", "staticAttributes"),
    ("internal_attributes", "internalAttributes"),
    ("protocol", "protocol"),
    ("autoprovision", "autoprovision"),
    ("explicitAttrs", "explicitAttrs"),
    ("ngsiVersion", "ngsiVersion"),
    ("payloadType", "payloadType"),
    ("useCBflowControl", "useCBflowControl"),
    ("storeLastMeasure", "storeLastMeasure"),
    ("lastMeasure", "lastMeasure"),
)
_ATTRIBUTE_KEYS = (
    "object_id",
    "name",
    "type",
    "expression",
    "skipValue",
    "entity_name",
    "entity_type",
    "mqtt",
    "payloadType",
    "contentType",
    "metadata",
)
# MongoDB registry: the order of a stored group document, and the fields it does not keep.
_MONGO_GROUP_HEAD = ("commands", "lazy", "_id", "attributes", "resource", "apikey")
_MONGO_GROUP_TAIL = ("service", "subservice", "__v", "static_attributes", "internal_attributes")
_MONGO_GROUP_DROPPED = {"cbroker", "timezone"}
_MONGO_GROUP_LISTS = ("commands", "lazy", "attributes", "static_attributes", "internal_attributes")


class _IotaError(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


def _wrong_syntax() -> _IotaError:
    return _IotaError(
        400, "WRONG_SYNTAX", "Wrong syntax in request: Errors found validating request."
    )


def _body_items(body: Any, key: str) -> Iterator[dict[str, Any]]:
    """The objects listed under ``key`` of a JSON object body (400 WRONG_SYNTAX at the first
    thing that is not)."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise _wrong_syntax()
    for item in body[key]:
        if not isinstance(item, dict):
            raise _wrong_syntax()
        yield item


def _missing_attributes(names: list[str], item: Any = None) -> _IotaError:
    text = f"The request was not well formed:Missing attributes: {encode_json(names)}"
    if item is not None:
        text += f" with: {encode_json(item)}"
    return _IotaError(400, "MISSING_ATTRIBUTES", text)


def _node_syntax_error(body: bytes, error: InvalidJSON) -> str:
    text = body.decode("utf-8", "replace")
    if error.truncated or not text.strip():
        return "Unexpected end of JSON input"
    position = error.position
    token = text[position] if position < len(text) else ""
    return f"Unexpected token {token} in JSON at position {position}"


class IoTAgentEmulator(EmulatedService):
    """The IoT Agent's provisioning API in memory."""

    name = "IoT Agent"

    def __init__(
        self, *, registry: Registry = "mongodb", about_port: int | str | None = None
    ) -> None:
        super().__init__()
        if registry not in ("mongodb", "memory"):
            raise ValueError("registry must be 'mongodb' or 'memory'")
        self.registry = registry
        #: The ``port`` /iot/about reports; None: the port the sandbox serves it on.
        self.about_port = about_port
        self._devices: list[dict[str, Any]] = []
        self._groups: list[dict[str, Any]] = []
        self._group_counter = 0
        self._router = self._routes()

    def clear(self) -> None:
        with self._lock:
            self._devices.clear()
            self._groups.clear()
        self.clear_faults()

    def devices(self, service: str, servicepath: str) -> list[dict[str, Any]]:
        """Provisioned devices of a tenant, rendered as the API lists them (for tests/demos)."""
        with self._lock:
            return [
                self._render_device(d)
                for d in self._devices
                if d["service"] == service and d["subservice"] == servicepath
            ]

    # ------------------------------------------------------------------ dispatch

    def _routes(self) -> Router[_Call]:
        router: Router[_Call] = Router()
        device = "/iot/devices/{device_id}"
        router.add("GET", "/iot/about", self._about)
        router.add("GET", "/version", self._about)
        for methods, template, handler in (
            ("GET", "/iot/devices", self._list_devices),
            ("POST", "/iot/devices", self._provision_devices),
            ("GET", device, self._get_device),
            ("PUT", device, self._update_device),
            ("DELETE", device, self._delete_device),
            ("GET", "/iot/services", self._list_groups),
            ("POST", "/iot/services", self._create_groups),
            ("PUT DELETE", "/iot/services", self._change_groups),
            ("POST", "/iot/op/delete", self._delete_devices),
        ):
            router.add(methods, template, handler)
        return router

    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        correlator = request.headers.get("fiware-correlator") or random_correlator()
        headers = [("Fiware-Correlator", correlator)]
        try:
            body = self._body(request)
            with self._lock:
                routed = self._router.dispatch(request, _Call(body, headers))
        except _IotaError as exc:
            return self._json(exc.status, {"name": exc.name, "message": exc.message}, headers)
        if routed is not None:
            return routed
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            "<title>Error</title>\n</head>\n<body>\n"
            f"<pre>Cannot {request.method} {html.escape(raw_path(request), quote=False)}</pre>\n"
            "</body>\n</html>\n"
        )
        return respond(
            404,
            [
                *headers,
                ("Content-Security-Policy", "default-src 'none'"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Type", "text/html; charset=utf-8"),
            ],
            page.encode("utf-8"),
        )

    @staticmethod
    def _json(status: int, body: Any, headers: Headers) -> httpx.Response:
        return respond(status, [*headers, ("Content-Type", JSON_TYPE)], json_bytes(body))

    @staticmethod
    def _body(request: httpx.Request) -> Any:
        content_type = (request.headers.get("content-type") or "").lower()
        if "json" not in content_type or not request.content:
            return None
        try:
            return parse_json(request.content)
        except InvalidJSON as exc:
            raise _IotaError(500, "SyntaxError", _node_syntax_error(request.content, exc)) from None

    def _about(self, request: httpx.Request, call: _Call) -> httpx.Response:
        port = self.about_port if self.about_port is not None else self.bound_port
        return self._json(
            200, {"libVersion": LIB_VERSION, "port": port, "baseRoot": "/"}, call.headers
        )

    @staticmethod
    def _tenant(request: httpx.Request) -> tuple[str, str]:
        service = request.headers.get("fiware-service")
        servicepath = request.headers.get("fiware-servicepath")
        missing = [
            name
            for name, value in (("fiware-service", service), ("fiware-servicepath", servicepath))
            if value is None
        ]
        if missing:
            raise _IotaError(
                400,
                "MISSING_HEADERS",
                "Some headers were missing from the request: " + encode_json(missing),
            )
        assert service is not None and servicepath is not None
        return service, servicepath

    @staticmethod
    def _paging(request: httpx.Request) -> tuple[int | None, int]:
        def number(name: str) -> int | None:
            raw = request.url.params.get(name)
            if raw is None:
                return None
            match = re.match(r"^\s*(-?\d+)", raw)
            return int(match.group(1)) if match else None

        limit = number("limit")
        offset = number("offset") or 0
        return (limit if limit else None), max(offset, 0)

    # ------------------------------------------------------------------ devices

    def _render_device(self, device: dict[str, Any]) -> dict[str, Any]:
        rendered: dict[str, Any] = {}
        for api, internal in _RENDER_ORDER:
            if internal not in device or device[internal] is None:
                continue
            if internal == "timezone" and self.registry == "mongodb":
                continue
            value = device[internal]
            if api in ("attributes", "lazy", "commands") and isinstance(value, list):
                value = [
                    {k: a[k] for k in _ATTRIBUTE_KEYS if isinstance(a, dict) and k in a}
                    for a in value
                ]
            rendered[api] = value
        return rendered

    def _list_devices(self, request: httpx.Request, call: _Call) -> httpx.Response:
        service, servicepath = self._tenant(request)
        limit, offset = self._paging(request)
        matching = [
            d for d in self._devices if d["service"] == service and d["subservice"] == servicepath
        ]
        page = matching[offset : offset + limit if limit else None]
        return self._json(
            200,
            {"count": len(matching), "devices": [self._render_device(d) for d in page]},
            call.headers,
        )

    def _find_device(self, device_id: str, service: str, servicepath: str) -> dict[str, Any] | None:
        for device in self._devices:
            if device["id"] != device_id or device["service"] != service:
                continue
            if self.registry == "memory" or device["subservice"] == servicepath:
                return device
        return None

    def _not_found(
        self, device_id: str, service: str, servicepath: str, *, with_id: bool = True
    ) -> _IotaError:
        if self.registry == "memory":
            detail = "undefined"
        else:
            fields = {"id": device_id} if with_id else {}
            detail = encode_json({**fields, "service": service, "subservice": servicepath})
        return _IotaError(
            404, "DEVICE_NOT_FOUND", f"No device was found with id:{device_id} and {detail}"
        )

    def _provision_devices(self, request: httpx.Request, call: _Call) -> httpx.Response:
        service, servicepath = self._tenant(request)
        new_devices: list[dict[str, Any]] = []
        for raw in _body_items(call.body, "devices"):
            if not raw.get("device_id"):
                raise _missing_attributes(["device_id"], raw)
            device: dict[str, Any] = {}
            for api, internal in _DEVICE_FIELDS:
                if api == "service":
                    device["service"] = service
                elif api == "subservice":
                    device["subservice"] = servicepath
                elif api == "internalId":
                    device["internalId"] = None
                elif api in raw:
                    device[internal] = raw[api]
            candidates = [*self._devices, *new_devices]
            duplicate = any(
                d["id"] == device["id"]
                and d["service"] == service
                and d["subservice"] == servicepath
                and d.get("apikey") == device.get("apikey")
                for d in candidates
            )
            if duplicate:
                raise _IotaError(
                    409,
                    "DUPLICATE_DEVICE_ID",
                    "A device with the same info (DeviceId, ApiKey, Service, Subservice) "
                    f"was found:{device['id']} and {encode_json(device)}",
                )
            new_devices.append(device)
        for device in new_devices:
            stored = dict(device)
            stored.setdefault("type", "Thing")
            stored.setdefault("name", f"{stored['type']}:{stored['id']}")
            for key in ("active", "lazy", "commands", "staticAttributes"):
                stored.setdefault(key, [])
            stored["polling"] = (
                not stored.get("endpoint") and stored.get("transport", "HTTP") == "HTTP"
            )
            self._devices.append(stored)
        return self._json(201, {}, call.headers)

    def _get_device(self, request: httpx.Request, call: _Call, device_id: str) -> httpx.Response:
        service, servicepath = self._tenant(request)
        device = self._find_device(device_id, service, servicepath)
        if device is None:
            raise self._not_found(device_id, service, servicepath)
        return self._json(200, self._render_device(device), call.headers)

    def _update_device(self, request: httpx.Request, call: _Call, device_id: str) -> httpx.Response:
        service, servicepath = self._tenant(request)
        if isinstance(call.body, dict) and "device_id" in call.body:
            raise _IotaError(400, "BAD_REQUEST", "Can't change the ID of a preprovisioned device")
        device = self._find_device(device_id, service, servicepath)
        if device is None:
            raise self._not_found(device_id, service, servicepath)
        if not isinstance(call.body, dict):
            raise _wrong_syntax()
        for api, value in call.body.items():
            device[_API_TO_INTERNAL.get(api) or api] = value
        return respond(204, call.headers)

    def _delete_device(self, request: httpx.Request, call: _Call, device_id: str) -> httpx.Response:
        service, servicepath = self._tenant(request)
        if not self._remove_device(device_id, service, servicepath):
            raise self._not_found(device_id, service, servicepath, with_id=False)
        return respond(204, call.headers)

    def _delete_devices(self, request: httpx.Request, call: _Call) -> httpx.Response:
        service, servicepath = self._tenant(request)
        for item in (call.body or {}).get("devices", []):
            self._remove_device(str(item.get("deviceId")), service, servicepath)
        return respond(204, call.headers)

    def _remove_device(self, device_id: str, service: str, servicepath: str) -> bool:
        device = self._find_device(device_id, service, servicepath)
        if device is None:
            return False
        self._devices.remove(device)
        return True

    # ------------------------------------------------------------------ service groups

    def _render_group(self, group: dict[str, Any]) -> dict[str, Any]:
        if self.registry == "memory":
            rendered = {k: v for k, v in group.items() if k != "type"}
            if "type" in group:
                rendered["entity_type"] = group["type"]
            return rendered
        rendered = {}
        for key in _MONGO_GROUP_HEAD:
            if key in group:
                rendered[key] = group[key]
        for key, value in group.items():
            if key in _MONGO_GROUP_HEAD or key in _MONGO_GROUP_TAIL or key == "type":
                continue
            if key in _MONGO_GROUP_DROPPED or key == "creationDate":
                continue
            rendered[key] = value
        for key in _MONGO_GROUP_TAIL:
            if key in group:
                rendered[key] = group[key]
        if "type" in group:
            rendered["entity_type"] = group["type"]
        return rendered

    def _selected_groups(
        self, request: httpx.Request, service: str, servicepath: str
    ) -> list[dict[str, Any]]:
        resource = request.url.params.get("resource")
        apikey = request.url.params.get("apikey")
        return [
            g
            for g in self._groups
            if g["service"] == service
            and g["subservice"] == servicepath
            and (resource is None or g.get("resource") == resource)
            and (apikey is None or g.get("apikey") == apikey)
        ]

    @staticmethod
    def _group_not_found(service: str, servicepath: str) -> _IotaError:
        return _IotaError(
            404,
            "DEVICE_GROUP_NOT_FOUND",
            f'Couldn\t find device group for fields: "{service}" and values: "{servicepath}"',
        )

    def _list_groups(self, request: httpx.Request, call: _Call) -> httpx.Response:
        service, servicepath = self._tenant(request)
        selected = self._selected_groups(request, service, servicepath)
        if not selected and self.registry == "memory":
            raise self._group_not_found(service, servicepath)
        limit, offset = self._paging(request)
        page = selected[offset : offset + limit if limit else None]
        rendered = [self._render_group(g) for g in page]
        return self._json(200, {"count": len(selected), "services": rendered}, call.headers)

    def _change_groups(self, request: httpx.Request, call: _Call) -> httpx.Response:
        """PUT (update) or DELETE the groups named by ``resource`` and ``apikey``."""
        service, servicepath = self._tenant(request)
        missing = [name for name in ("resource", "apikey") if request.url.params.get(name) is None]
        if missing:
            raise _missing_attributes(missing)
        selected = self._selected_groups(request, service, servicepath)
        if not selected:
            raise self._group_not_found(service, servicepath)
        if request.method == "DELETE":
            for group in selected:
                self._groups.remove(group)
            return respond(204, call.headers)
        if not isinstance(call.body, dict):
            raise _wrong_syntax()
        for group in selected:
            for key, value in call.body.items():
                group["type" if key == "entity_type" else key] = value
        return respond(204, call.headers)

    def _create_groups(self, request: httpx.Request, call: _Call) -> httpx.Response:
        service, servicepath = self._tenant(request)
        created: list[dict[str, Any]] = []
        for raw in _body_items(call.body, "services"):
            missing = [key for key in ("apikey", "resource") if key not in raw]
            if missing:
                raise _missing_attributes(missing, raw)
            group = {k: v for k, v in raw.items() if k != "entity_type"}
            if "entity_type" in raw:
                group["type"] = raw["entity_type"]
            group["service"] = service
            group["subservice"] = servicepath
            duplicate = any(
                g["service"] == service
                and g.get("resource") == group.get("resource")
                and g.get("apikey") == group.get("apikey")
                for g in [*self._groups, *created]
            )
            if duplicate:
                raise _IotaError(
                    409,
                    "DUPLICATE_GROUP",
                    f"A device configuration already exists for resource {group.get('resource')} "
                    f"and API Key {group.get('apikey')} and {encode_json(group)}",
                )
            created.append(group)
        for group in created:
            self._group_counter += 1
            if self.registry == "memory":
                stored = {k: v for k, v in group.items() if k != "type"}
                stored["_id"] = self._group_counter
                stored["creationDate"] = now_ms()
                if "type" in group:
                    stored["type"] = group["type"]
            else:
                lists: dict[str, Any] = {key: [] for key in _MONGO_GROUP_LISTS}
                stored = {**lists, **group, "_id": new_object_id(), "__v": 0}
            self._groups.append(stored)
        return self._json(201, {}, call.headers)
