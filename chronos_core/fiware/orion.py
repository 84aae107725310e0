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

from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import BrokerClient
from chronos_core.fiware.errors import RequestTarget
from chronos_core.fiware.http import segment
from chronos_core.fiware.ngsi import ORION_FORBIDDEN_CHARS, format_datetime
from chronos_core.fiware.ngsi import check_name as _check
from chronos_core.fiware.tenant import Tenant

SERVICE_NAME = "Orion"
TOTAL_COUNT = "fiware-total-count"
BatchAction = Literal["append", "appendStrict", "update", "delete", "replace"]


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


class OrionClient(BrokerClient[Tenant]):
    """Entities, attributes, batch updates and subscriptions in Orion. A context manager."""

    service_name = SERVICE_NAME
    service_key = "orion"
    subscriptions_path = "/v2/subscriptions"
    count_param = ("options", "count")
    total_header = TOTAL_COUNT

    @staticmethod
    def _entity_body(entity: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        if not isinstance(entity, Mapping):
            raise InvalidInput("an entity must be a JSON object with id and type")
        entity_id = entity.get("id")
        entity_type = entity.get("type")
        if not isinstance(entity_id, str) or not isinstance(entity_type, str):
            raise InvalidInput("an entity needs a string 'id' and a string 'type'")
        return _check(entity_id, "entity id"), _check(entity_type, "entity type"), dict(entity)

    @staticmethod
    def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(attributes, Mapping) or not attributes:
            raise InvalidInput("give at least one attribute")
        for name in attributes:
            _check(name, "attribute name")
        return dict(attributes)

    @staticmethod
    def _entity(
        entity_id: str, entity_type: str | None, attribute: str | None = None
    ) -> tuple[str, list[tuple[str, str]], RequestTarget]:
        """The entity's path (with ``/attrs/{attribute}``), its ``type`` query and target."""
        path = f"/v2/entities/{segment(_check(entity_id, 'entity id'))}"
        if attribute is not None:
            path += f"/attrs/{segment(_check(attribute, 'attribute name'))}"
        params = [("type", _check(entity_type, "entity type"))] if entity_type else []
        return path, params, RequestTarget(entity_id, entity_type, attribute)

    def version(self) -> dict[str, Any]:
        return self._http.get_object("/version", "the /version answer")

    # ------------------------------------------------------------------ entities

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
        path, params, target = self._entity(entity_id, entity_type)
        if append_only:
            params.append(("options", "append"))
        self._http.request(
            "POST",
            f"{path}/attrs",
            tenant=tenant,
            params=params,
            json=self._attributes(attributes),
            target=target,
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
        path, params, target = self._entity(entity_id, entity_type)
        body = self._attributes(attributes)
        self._http.request(
            "PATCH", f"{path}/attrs", tenant=tenant, params=params, json=body, target=target
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
        path, params, target = self._entity(entity_id, entity_type)
        if attrs:
            params.append(("attrs", ",".join(attrs)))
        if key_values:
            params.append(("options", "keyValues"))
        return self._get(path, "the entity", tenant, params=params, target=target)

    def get_attribute(
        self, tenant: Tenant, entity_id: str, attribute: str, *, entity_type: str | None = None
    ) -> dict[str, Any]:
        """``{"type", "value", "metadata"}`` of one attribute; 404 when missing."""
        path, params, target = self._entity(entity_id, entity_type, attribute)
        return self._get(path, "the attribute", tenant, params=params, target=target)

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
        path, params, target = self._entity(entity_id, entity_type)
        return self._http.delete(
            path, missing_ok=missing_ok, tenant=tenant, params=params, target=target
        )

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
        for entity in entities:
            if not isinstance(entity, Mapping) or not isinstance(entity.get("id"), str):
                raise InvalidInput("every batch entity needs a string 'id'")
            _check(entity["id"], "entity id")
            if "type" in entity:
                _check(entity["type"], "entity type")
        self._http.request(
            "POST",
            "/v2/op/update",
            tenant=tenant,
            json={"actionType": action_type, "entities": [dict(e) for e in entities]},
            idempotent=action_type != "appendStrict",
        )

    @staticmethod
    def _filters(
        entity_type: str | None, id_pattern: str | None, q: str | None
    ) -> list[tuple[str, str]]:
        params = [("type", _check(entity_type, "entity type"))] if entity_type is not None else []
        if id_pattern is not None:
            params.append(("idPattern", id_pattern))
        return params + ([("q", q)] if q is not None else [])

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
        params = self._filters(entity_type, id_pattern, q)
        if attrs:
            params.append(("attrs", ",".join(attrs)))
        params.append(("options", "count,keyValues" if key_values else "count"))
        return self._http.read_list(
            "/v2/entities",
            page_size=page_size,
            limit=limit,
            params=params,
            total_header=TOTAL_COUNT,
            tenant=tenant,
        )

    def count_entities(
        self,
        tenant: Tenant,
        *,
        entity_type: str | None = None,
        id_pattern: str | None = None,
        q: str | None = None,
    ) -> int:
        params = [*self._filters(entity_type, id_pattern, q), ("limit", "1"), ("attrs", "id")]
        return self._count("/v2/entities", tenant, [*params, self.count_param])
