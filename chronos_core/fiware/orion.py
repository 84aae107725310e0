"""Client for the Orion Context Broker's NGSI v2 API.

Recorded Orion behaviour it relies on: creation answers 201 with ``Location``; upsert
(``options=upsert``) answers 204 even when it creates; a duplicate is 422; a PATCH of a missing
attribute is 422; unknown entities and subscriptions are 404; ``Fiware-Total-Count`` only comes with
``options=count``; ``limit`` is at most 1000.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from chronos_core.domain.identifiers import check_ngsi_name
from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import FiwareClient
from chronos_core.fiware.errors import FiwareNotFound, RequestTarget
from chronos_core.fiware.http import int_header, segment
from chronos_core.fiware.ngsi import ORION_FORBIDDEN_CHARS, format_datetime
from chronos_core.fiware.paging import ListPage, read_list_pages
from chronos_core.fiware.tenant import Tenant

SERVICE_NAME = "Orion"
MAX_PAGE_SIZE = 1000
BatchAction = Literal["append", "appendStrict", "update", "delete", "replace"]


def _check(value: str, what: str) -> str:
    try:
        return check_ngsi_name(value, what)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def build_sth_subscription(
    *,
    entity_id: str,
    entity_type: str,
    attributes: Sequence[str],
    notify_url: str,
    description: str,
    throttling: int | None = None,
    expires: datetime | None = None,
) -> dict[str, Any]:
    """A subscription that feeds STH-Comet: ``attrsFormat: legacy`` (Orion 3.x only).

    STH-Comet 2.11 understands only legacy notifications; Orion 4 cannot send them.
    """
    _check(entity_id, "entity id")
    _check(entity_type, "entity type")
    for name in attributes:
        _check(name, "attribute name")
    if any(c in ORION_FORBIDDEN_CHARS for c in description):
        raise InvalidInput(
            "subscription description contains characters Orion refuses "
            "(none of < > \" ' = ; ( ) are allowed)"
        )
    if not notify_url.startswith(("http://", "https://")):
        raise InvalidInput(f"notification URL must be http(s), got {notify_url!r}")
    subscription: dict[str, Any] = {
        "description": description,
        "subject": {
            "entities": [{"id": entity_id, "type": entity_type}],
            "condition": {"attrs": list(attributes)},
        },
        "notification": {
            "http": {"url": notify_url},
            "attrs": list(attributes),
            "attrsFormat": "legacy",
        },
    }
    if throttling is not None:
        subscription["throttling"] = throttling
    if expires is not None:
        subscription["expires"] = format_datetime(expires)
    return subscription


class OrionClient(FiwareClient):
    """Entities, attributes, batch updates and subscriptions in Orion. A context manager."""

    service_name = SERVICE_NAME
    service_key = "orion"

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _entity_body(entity: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        if not isinstance(entity, Mapping):
            raise InvalidInput("an entity must be a JSON object with id and type")
        entity_id = entity.get("id")
        entity_type = entity.get("type")
        if not isinstance(entity_id, str) or not isinstance(entity_type, str):
            raise InvalidInput("an entity needs a string 'id' and a string 'type'")
        _check(entity_id, "entity id")
        _check(entity_type, "entity type")
        return entity_id, entity_type, dict(entity)

    @staticmethod
    def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(attributes, Mapping) or not attributes:
            raise InvalidInput("give at least one attribute")
        for name in attributes:
            _check(name, "attribute name")
        return dict(attributes)

    def _page(
        self,
        path: str,
        tenant: Tenant,
        base: Sequence[tuple[str, str]],
        offset: int,
        size: int,
        what: str,
    ) -> ListPage:
        """One ``limit``/``offset`` page of a list (``options=count`` gives the total)."""
        params = [*base, ("limit", str(size)), ("offset", str(offset))]
        response = self._http.request("GET", path, tenant=tenant, params=params)
        page = self._http.json(response)
        if not isinstance(page, list):
            raise self._http.protocol_error(response, f"the {what} list is not an array")
        return ListPage(
            [item for item in page if isinstance(item, dict)],
            len(page),
            int_header(response, "fiware-total-count"),
        )

    # ------------------------------------------------------------------ entities

    def version(self) -> dict[str, Any]:
        response = self._http.request("GET", "/version")
        body = self._http.json(response)
        if not isinstance(body, dict):
            raise self._http.protocol_error(response, "the /version answer is not an object")
        return body

    def create_entity(self, tenant: Tenant, entity: Mapping[str, Any]) -> str:
        """Create an entity (422 :class:`FiwareConflict` if it exists); returns its Location."""
        entity_id, entity_type, body = self._entity_body(entity)
        target = RequestTarget(entity_id=entity_id, entity_type=entity_type)
        response = self._http.request(
            "POST", "/v2/entities", tenant=tenant, json=body, target=target
        )
        return response.headers.get("location", f"/v2/entities/{entity_id}?type={entity_type}")

    def upsert_entity(self, tenant: Tenant, entity: Mapping[str, Any]) -> None:
        """Create the entity or update/append its attributes (Orion answers 204 either way)."""
        entity_id, entity_type, body = self._entity_body(entity)
        self._http.request(
            "POST",
            "/v2/entities",
            tenant=tenant,
            params=[("options", "upsert")],
            json=body,
            target=RequestTarget(entity_id=entity_id, entity_type=entity_type),
            idempotent=True,
        )

    def update_attributes(
        self,
        tenant: Tenant,
        entity_id: str,
        attributes: Mapping[str, Any],
        *,
        entity_type: str | None = None,
        append_only: bool = False,
    ) -> None:
        """``POST /v2/entities/{id}/attrs``: update existing attributes and append new ones.

        ``append_only`` refuses (422) attributes that already exist.
        """
        _check(entity_id, "entity id")
        params: list[tuple[str, str]] = []
        if entity_type is not None:
            params.append(("type", _check(entity_type, "entity type")))
        if append_only:
            params.append(("options", "append"))
        self._http.request(
            "POST",
            f"/v2/entities/{segment(entity_id)}/attrs",
            tenant=tenant,
            params=params,
            json=self._attributes(attributes),
            target=RequestTarget(entity_id=entity_id, entity_type=entity_type),
            idempotent=not append_only,
        )

    def patch_attributes(
        self,
        tenant: Tenant,
        entity_id: str,
        attributes: Mapping[str, Any],
        *,
        entity_type: str | None = None,
    ) -> None:
        """``PATCH /v2/entities/{id}/attrs``: update existing attributes only (422 otherwise)."""
        _check(entity_id, "entity id")
        params = [("type", _check(entity_type, "entity type"))] if entity_type else []
        self._http.request(
            "PATCH",
            f"/v2/entities/{segment(entity_id)}/attrs",
            tenant=tenant,
            params=params,
            json=self._attributes(attributes),
            target=RequestTarget(entity_id=entity_id, entity_type=entity_type),
        )

    def get_entity(
        self,
        tenant: Tenant,
        entity_id: str,
        *,
        entity_type: str | None = None,
        attrs: Sequence[str] | None = None,
        key_values: bool = False,
    ) -> dict[str, Any]:
        """The entity (normalized, or ``{attr: value}`` with ``key_values``); 404 if missing."""
        _check(entity_id, "entity id")
        params: list[tuple[str, str]] = []
        if entity_type is not None:
            params.append(("type", _check(entity_type, "entity type")))
        if attrs:
            params.append(("attrs", ",".join(attrs)))
        if key_values:
            params.append(("options", "keyValues"))
        target = RequestTarget(entity_id=entity_id, entity_type=entity_type)
        response = self._http.request(
            "GET", f"/v2/entities/{segment(entity_id)}", tenant=tenant, params=params, target=target
        )
        body = self._http.json(response, target=target)
        if not isinstance(body, dict):
            raise self._http.protocol_error(response, "the entity is not a JSON object", target)
        return body

    def get_attribute(
        self, tenant: Tenant, entity_id: str, attribute: str, *, entity_type: str | None = None
    ) -> dict[str, Any]:
        """``{"type", "value", "metadata"}`` of one attribute; 404 when missing."""
        _check(entity_id, "entity id")
        _check(attribute, "attribute name")
        params = [("type", _check(entity_type, "entity type"))] if entity_type else []
        target = RequestTarget(entity_id=entity_id, entity_type=entity_type, attribute=attribute)
        response = self._http.request(
            "GET",
            f"/v2/entities/{segment(entity_id)}/attrs/{segment(attribute)}",
            tenant=tenant,
            params=params,
            target=target,
        )
        body = self._http.json(response, target=target)
        if not isinstance(body, dict):
            raise self._http.protocol_error(response, "the attribute is not a JSON object", target)
        return body

    def delete_entity(
        self,
        tenant: Tenant,
        entity_id: str,
        *,
        entity_type: str | None = None,
        missing_ok: bool = False,
    ) -> bool:
        """Delete an entity. A missing one raises :class:`FiwareNotFound` unless ``missing_ok``.

        Returns True when it was deleted, False when it was missing.
        """
        _check(entity_id, "entity id")
        params = [("type", _check(entity_type, "entity type"))] if entity_type else []
        try:
            self._http.request(
                "DELETE",
                f"/v2/entities/{segment(entity_id)}",
                tenant=tenant,
                params=params,
                target=RequestTarget(entity_id=entity_id, entity_type=entity_type),
            )
        except FiwareNotFound:
            if missing_ok:
                return False
            raise
        return True

    def batch_update(
        self, tenant: Tenant, action_type: BatchAction, entities: Sequence[Mapping[str, Any]]
    ) -> None:
        """``POST /v2/op/update``: append, appendStrict, update, delete or replace entities."""
        if action_type not in ("append", "appendStrict", "update", "delete", "replace"):
            raise InvalidInput(
                f"batch action must be append, appendStrict, update, delete or replace, "
                f"got {action_type!r}"
            )
        if not entities:
            raise InvalidInput("a batch update needs at least one entity")
        bodies = []
        for entity in entities:
            if not isinstance(entity, Mapping) or not isinstance(entity.get("id"), str):
                raise InvalidInput("every batch entity needs a string 'id'")
            _check(entity["id"], "entity id")
            if "type" in entity:
                _check(entity["type"], "entity type")
            bodies.append(dict(entity))
        self._http.request(
            "POST",
            "/v2/op/update",
            tenant=tenant,
            json={"actionType": action_type, "entities": bodies},
            idempotent=action_type in ("append", "update", "replace", "delete"),
        )

    def list_entities(
        self,
        tenant: Tenant,
        *,
        entity_type: str | None = None,
        id_pattern: str | None = None,
        q: str | None = None,
        attrs: Sequence[str] | None = None,
        key_values: bool = False,
        page_size: int = 100,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """All matching entities (every page, in creation order), or the first ``limit``."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if limit is not None and limit < 0:
            raise InvalidInput("limit must be >= 0")
        base: list[tuple[str, str]] = []
        if entity_type is not None:
            base.append(("type", _check(entity_type, "entity type")))
        if id_pattern is not None:
            base.append(("idPattern", id_pattern))
        if q is not None:
            base.append(("q", q))
        if attrs:
            base.append(("attrs", ",".join(attrs)))
        base.append(("options", "count,keyValues" if key_values else "count"))
        return read_list_pages(
            lambda offset, size: self._page("/v2/entities", tenant, base, offset, size, "entity"),
            page_size,
            limit=limit,
        )

    def count_entities(
        self,
        tenant: Tenant,
        *,
        entity_type: str | None = None,
        id_pattern: str | None = None,
        q: str | None = None,
    ) -> int:
        params: list[tuple[str, str]] = [("options", "count"), ("limit", "1"), ("attrs", "id")]
        if entity_type is not None:
            params.insert(0, ("type", _check(entity_type, "entity type")))
        if id_pattern is not None:
            params.insert(0, ("idPattern", id_pattern))
        if q is not None:
            params.insert(0, ("q", q))
        response = self._http.request("GET", "/v2/entities", tenant=tenant, params=params)
        total = int_header(response, "fiware-total-count")
        if total is None:
            raise self._http.protocol_error(response, "options=count but no Fiware-Total-Count")
        return total

    # ------------------------------------------------------------------ subscriptions

    def create_subscription(self, tenant: Tenant, subscription: Mapping[str, Any]) -> str:
        """Create a subscription and return its id (from the Location header)."""
        if not isinstance(subscription, Mapping):
            raise InvalidInput("a subscription must be a JSON object")
        response = self._http.request(
            "POST", "/v2/subscriptions", tenant=tenant, json=dict(subscription)
        )
        location = response.headers.get("location", "")
        subscription_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not location.startswith("/v2/subscriptions/") or not subscription_id:
            raise self._http.protocol_error(
                response, f"no subscription id in the Location header ({location!r})"
            )
        return subscription_id

    def get_subscription(self, tenant: Tenant, subscription_id: str) -> dict[str, Any]:
        target = RequestTarget(subscription_id=subscription_id)
        response = self._http.request(
            "GET", f"/v2/subscriptions/{segment(subscription_id)}", tenant=tenant, target=target
        )
        body = self._http.json(response, target=target)
        if not isinstance(body, dict):
            raise self._http.protocol_error(response, "the subscription is not an object", target)
        return body

    def list_subscriptions(self, tenant: Tenant, *, page_size: int = 100) -> list[dict[str, Any]]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        base = [("options", "count")]
        return read_list_pages(
            lambda offset, size: self._page(
                "/v2/subscriptions", tenant, base, offset, size, "subscription"
            ),
            page_size,
        )

    def delete_subscription(
        self, tenant: Tenant, subscription_id: str, *, missing_ok: bool = False
    ) -> bool:
        """Delete a subscription; False if it was already gone and ``missing_ok``."""
        try:
            self._http.request(
                "DELETE",
                f"/v2/subscriptions/{segment(subscription_id)}",
                tenant=tenant,
                target=RequestTarget(subscription_id=subscription_id),
            )
        except FiwareNotFound:
            if missing_ok:
                return False
            raise
        return True
