"""Client for the Orion Context Broker's NGSI v2 API.

Recorded Orion behaviour it relies on: a subscription's creation answers 201 with ``Location``;
upsert (``options=upsert``) answers 204 even when it creates; unknown entities and subscriptions
are 404; ``Fiware-Total-Count`` only comes with ``options=count``; ``limit`` is at most 1000.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import BrokerClient
from chronos_core.fiware.errors import RequestTarget
from chronos_core.fiware.http import segment
from chronos_core.fiware.ngsi import ORION_FORBIDDEN_CHARS, format_datetime
from chronos_core.fiware.ngsi import check_name as _check
from chronos_core.fiware.tenant import Tenant

SERVICE_NAME = "Orion"
TOTAL_COUNT = "fiware-total-count"


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
    """Entities and subscriptions in Orion. A context manager."""

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
    def _entity(
        entity_id: str, entity_type: str | None
    ) -> tuple[str, list[tuple[str, str]], RequestTarget]:
        """The entity's path, its ``type`` query and target."""
        path = f"/v2/entities/{segment(_check(entity_id, 'entity id'))}"
        params = [("type", _check(entity_type, "entity type"))] if entity_type else []
        return path, params, RequestTarget(entity_id, entity_type)

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

    def count_entities(
        self, tenant: Tenant, *, entity_type: str | None = None, q: str | None = None
    ) -> int:
        params = [("type", _check(entity_type, "entity type"))] if entity_type is not None else []
        params += [*([("q", q)] if q is not None else []), ("limit", "1"), ("attrs", "id")]
        return self._count("/v2/entities", tenant, [*params, self.count_param])
