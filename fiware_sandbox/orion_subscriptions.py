"""Orion emulation: subscriptions and the notifications they send.

Notifications are sent synchronously. A receiver registered for a host and port (the sandbox's
STH-Comet, or a :class:`~fiware_sandbox.recorder.NotificationRecorder`) is called in-process;
any other URL is notified over HTTP.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from fiware_sandbox.orion_model import (
    FORBIDDEN_CHARS,
    Change,
    Entity,
    bad_request,
    iso_seconds,
    rendered_numbers,
)
from fiware_sandbox.orion_query import QueryError, parse_q
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import action_of, json_bytes, make_request, parse_date_ms

ATTRS_FORMATS = (
    "legacy",
    "normalized",
    "simplifiedNormalized",
    "keyValues",
    "simplifiedKeyValues",
    "values",
)
LOOPBACK = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "::", ""}


@dataclass
class Subscription:
    """A stored subscription and its notification statistics (epoch seconds)."""

    id: str
    servicepath: str
    description: str | None
    subject: dict[str, Any]
    notification: dict[str, Any]
    status: str = "active"
    expires: float | None = None
    throttling: float | None = None
    times_sent: int = 0
    last_notification: float | None = None
    last_success: float | None = None
    last_success_code: int | None = None
    last_failure: float | None = None
    last_failure_reason: str | None = None
    fails_counter: int = 0

    @functools.cached_property
    def entity_ids(self) -> frozenset[str] | None:
        """The entity ids the subject names when every selector names one (``None`` when one
        has a pattern or no id): :func:`subject_matches` tests it first, so an upsert is not
        matched in full against every subscription of the tenant."""
        specs = self.subject["entities"]
        if not all("id" in spec for spec in specs):
            return None
        return frozenset(str(spec["id"]) for spec in specs)


@dataclass
class Outgoing:
    """A notification ready to send."""

    subscription_id: str
    tenant: str
    url: str
    method: str
    headers: list[tuple[str, str]]
    body: bytes


def receiver_key(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, loopback names folded together; None if not a URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        return None
    host = parts.hostname.lower()
    if host in LOOPBACK:
        host = "loopback"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return host, port


def subscription_request(subscription: Subscription) -> dict[str, Any]:
    """The subscription as a creation request (a PATCH is merged into it and re-parsed)."""
    request: dict[str, Any] = {}
    if subscription.description is not None:
        request["description"] = subscription.description
    request["subject"] = copy.deepcopy(subscription.subject)
    request["notification"] = copy.deepcopy(subscription.notification)
    request["status"] = subscription.status
    if subscription.expires is not None:
        request["expires"] = iso_seconds(subscription.expires)
    if subscription.throttling is not None:
        request["throttling"] = subscription.throttling
    return request


def parse_subscription(
    body: Any,
    servicepath: str,
    *,
    version: str,
    new_id: Callable[[], str],
    sub_id: str | None = None,
) -> Subscription:
    """Validate a subscription request with Orion's checks and error messages."""
    if not isinstance(body, dict):
        raise bad_request("Errors found in incoming JSON buffer")
    description = body.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise bad_request("description is not a string")
        if len(description) > 1024:
            raise bad_request("max description length exceeded")
        if any(c in FORBIDDEN_CHARS for c in description):
            raise bad_request("forbidden characters in description")
    subject = body.get("subject")
    if subject is None:
        raise bad_request("no subject for subscription specified")
    notification = body.get("notification")
    if notification is None:
        raise bad_request("no notification for subscription specified")
    if not isinstance(subject, dict) or not isinstance(notification, dict):
        raise bad_request("subject and notification must be JSON objects")
    entities = subject.get("entities")
    if not isinstance(entities, list) or not entities:
        raise bad_request("no subject entities specified")
    clean_entities = []
    for entity in entities:
        if not isinstance(entity, dict) or not ("id" in entity or "idPattern" in entity):
            raise bad_request("subject entities element has no id/idPattern")
        try:
            for key in ("idPattern", "typePattern"):
                if key in entity:
                    re.compile(entity[key])
        except (re.error, TypeError):
            raise bad_request("Invalid regex for entity id pattern") from None
        clean_entities.append(
            {k: entity[k] for k in ("id", "idPattern", "type", "typePattern") if k in entity}
        )
    condition = subject.get("condition") or {}
    if not isinstance(condition, dict):
        raise bad_request("condition must be a JSON object")
    condition_attrs = condition.get("attrs", [])
    if not isinstance(condition_attrs, list):
        raise bad_request("condition attrs must be a JSON array")
    http = notification.get("http")
    http_custom = notification.get("httpCustom")
    target = http if isinstance(http, dict) else http_custom
    if not isinstance(target, dict):
        raise bad_request("http or httpCustom is missing")
    url = target.get("url")
    if not isinstance(url, str) or receiver_key(url) is None:
        raise bad_request("invalid notification url")
    attrs_format = notification.get("attrsFormat", "normalized")
    allowed = ATTRS_FORMATS if version == "3.10.1" else ATTRS_FORMATS[1:]
    if attrs_format not in allowed:
        names = ", ".join(
            "simplifiedkeyValues" if f == "simplifiedKeyValues" else f for f in allowed
        )
        raise bad_request(f"invalid attrsFormat, accepted values: {names}")
    status = body.get("status", "active")
    if status not in ("active", "inactive", "oneshot"):
        raise bad_request("status is not valid: it has to be either active, inactive or oneshot")
    expires = None
    if "expires" in body:
        millis = parse_date_ms(str(body["expires"]))
        if millis is None:
            raise bad_request("expires has an invalid format")
        expires = millis / 1000
    throttling = body.get("throttling")
    if throttling is not None and (
        isinstance(throttling, bool) or not isinstance(throttling, int | float) or throttling < 0
    ):
        raise bad_request("throttling must be a non-negative number")
    clean_condition: dict[str, Any] = {"attrs": list(condition_attrs)}
    if "expression" in condition:
        expression = condition["expression"]
        if isinstance(expression, dict) and "q" in expression:
            try:
                parse_q(str(expression["q"]))
            except QueryError:
                raise bad_request("invalid expression in subscription condition") from None
        clean_condition["expression"] = expression
    clean_condition["notifyOnMetadataChange"] = bool(condition.get("notifyOnMetadataChange", True))
    clean_notification: dict[str, Any] = {}
    if "exceptAttrs" in notification:
        clean_notification["exceptAttrs"] = list(notification["exceptAttrs"])
    else:
        clean_notification["attrs"] = list(notification.get("attrs", []))
    clean_notification["onlyChangedAttrs"] = bool(notification.get("onlyChangedAttrs", False))
    clean_notification["attrsFormat"] = attrs_format
    if isinstance(http, dict):
        clean_notification["http"] = {"url": url}
    else:
        clean_notification["httpCustom"] = copy.deepcopy(http_custom)
    if "metadata" in notification:
        clean_notification["metadata"] = list(notification["metadata"])
    return Subscription(
        id=sub_id or new_id(),
        servicepath=servicepath,
        description=description,
        subject={"entities": clean_entities, "condition": clean_condition},
        notification=clean_notification,
        status=status,
        expires=expires,
        throttling=throttling,
    )


def render_subscription(sub: Subscription) -> dict[str, Any]:
    """The subscription as ``GET /v2/subscriptions`` shows it, in Orion's key order."""
    rendered: dict[str, Any] = {"id": sub.id}
    if sub.description is not None:
        rendered["description"] = sub.description
    if sub.expires is not None:
        rendered["expires"] = iso_seconds(sub.expires)
    status = sub.status
    if sub.expires is not None and sub.expires < time.time():
        status = "expired"
    rendered["status"] = status
    rendered["subject"] = copy.deepcopy(sub.subject)
    notification: dict[str, Any] = {}
    if sub.times_sent:
        notification["timesSent"] = sub.times_sent
    if sub.last_notification is not None:
        notification["lastNotification"] = iso_seconds(sub.last_notification)
    notification.update(copy.deepcopy(sub.notification))
    if sub.last_failure is not None:
        notification["lastFailure"] = iso_seconds(sub.last_failure)
        notification["lastFailureReason"] = sub.last_failure_reason
    if sub.last_success is not None:
        notification["lastSuccess"] = iso_seconds(sub.last_success)
        notification["lastSuccessCode"] = sub.last_success_code
    if sub.fails_counter:
        notification["failsCounter"] = sub.fails_counter
    notification["covered"] = False
    rendered["notification"] = notification
    if sub.throttling is not None:
        rendered["throttling"] = sub.throttling
    return rendered


def subject_matches(sub: Subscription, entity: Entity) -> bool:
    """Whether one of the subject's entity selectors matches the entity."""
    if sub.entity_ids is not None and entity.id not in sub.entity_ids:
        return False
    for spec in sub.subject["entities"]:
        if "id" in spec and spec["id"] != entity.id:
            continue
        if "idPattern" in spec and not re.search(spec["idPattern"], entity.id):
            continue
        if "type" in spec and spec["type"] != entity.type:
            continue
        if "typePattern" in spec and not re.search(spec["typePattern"], entity.type):
            continue
        return True
    return False


def build_notification(
    sub: Subscription,
    change: Change,
    correlator: str,
    *,
    version: str,
    render_entity: Callable[[Entity, list[str], str], Any],
) -> Outgoing:
    """The request Orion sends for ``change``, in the subscription's ``attrsFormat``."""
    entity = change.entity
    notification = sub.notification
    if "exceptAttrs" in notification:
        names = [n for n in sorted(entity.attrs) if n not in notification["exceptAttrs"]]
    elif notification["attrs"]:
        names = [n for n in notification["attrs"] if n in entity.attrs]
    else:
        names = sorted(entity.attrs)
    if notification["onlyChangedAttrs"]:
        names = [n for n in names if n in change.changed]
    attrs_format = notification["attrsFormat"]
    if attrs_format == "legacy":
        attributes = []
        for name in names:
            attribute = entity.attrs[name]
            item: dict[str, Any] = {
                "name": name,
                "type": attribute.type,
                "value": rendered_numbers(attribute.value),
            }
            if attribute.metadata:
                item["metadatas"] = [
                    {
                        "name": m,
                        "type": attribute.metadata[m]["type"],
                        "value": rendered_numbers(attribute.metadata[m]["value"]),
                    }
                    for m in sorted(attribute.metadata)
                ]
            attributes.append(item)
        body: Any = {
            "subscriptionId": sub.id,
            "originator": "localhost",
            "contextResponses": [
                {
                    "contextElement": {
                        "type": entity.type,
                        "isPattern": "false",
                        "id": entity.id,
                        "attributes": attributes,
                    },
                    "statusCode": {"code": "200", "reasonPhrase": "OK"},
                }
            ],
        }
    else:
        mode = {
            "normalized": "normalized",
            "simplifiedNormalized": "normalized",
            "keyValues": "keyValues",
            "simplifiedKeyValues": "keyValues",
            "values": "values",
        }[attrs_format]
        rendered = render_entity(entity, names, mode)
        if attrs_format.startswith("simplified"):
            body = rendered
        else:
            body = {"subscriptionId": sub.id, "data": [rendered]}
    headers: list[tuple[str, str]] = [("User-Agent", f"orion/{version} libcurl/7.88.1")]
    if change.tenant:
        headers.append(("Fiware-Service", change.tenant))
    headers += [
        ("Fiware-Servicepath", entity.servicepath),
        ("Accept", "application/json"),
        ("Content-Type", "application/json; charset=utf-8"),
        ("Fiware-Correlator", correlator),
    ]
    if attrs_format != "legacy":
        headers.append(("Ngsiv2-AttrsFormat", attrs_format))
    url = notification.get("http", {}).get("url")
    method = "POST"
    custom = notification.get("httpCustom")
    if isinstance(custom, dict):
        url = custom.get("url")
        method = str(custom.get("method", "POST")).upper()
        for name, value in (custom.get("headers") or {}).items():
            headers = [(k, v) for k, v in headers if k.lower() != str(name).lower()]
            headers.append((str(name), str(value)))
    return Outgoing(sub.id, change.tenant, str(url), method, headers, json_bytes(body))


class NotificationDelivery:
    """Sends notifications: in-process to registered receivers, else over HTTP."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._receivers: dict[tuple[str, int], EmulatedService] = {}
        self._lock = threading.Lock()

    def register(self, base_url: str, service: EmulatedService) -> None:
        key = receiver_key(base_url)
        if key is None:
            raise ValueError(f"not an http URL with a host: {base_url!r}")
        with self._lock:
            self._receivers[key] = service

    def deliver(self, item: Outgoing) -> tuple[int | None, str | None]:
        key = receiver_key(item.url)
        parts = urlsplit(item.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with self._lock:
            receiver = self._receivers.get(key) if key is not None else None
        if receiver is not None:
            response = receiver.handle(make_request(item.method, target, item.headers, item.body))
            if action_of(response) != "respond":
                return None, "Timeout was reached"
            return response.status_code, None
        try:
            with httpx.Client(timeout=self.timeout) as client:
                for name in list(client.headers):
                    del client.headers[name]
                answer = client.request(
                    item.method, item.url, headers=item.headers, content=item.body
                )
                return answer.status_code, None
        except httpx.TimeoutException:
            return None, "Timeout was reached"
        except httpx.HTTPError:
            return None, "Couldn't connect to server"
