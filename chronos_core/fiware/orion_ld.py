"""Client for an NGSI-LD context broker (Orion-LD 1.6; ETSI GS CIM 009).

Recorded Orion-LD behaviour it relies on (``shared/contracts/orion-ld.json``):

- the tenant is the ``NGSILD-Tenant`` header (no header: the default tenant); a tenant that was
  never written to answers 404 ``NonExistingTenant`` on reads;
- the ``@context`` comes either in an ``application/ld+json`` body (``"@context": [url, core]``)
  or in a ``Link`` header with ``application/json`` - never both;
- a subscription's creation answers 201 with ``Location``;
- ``POST /entityOperations/upsert`` **replaces** existing entities (attributes missing from the
  payload are gone) and answers 201 with the ids it created, or 204; ``options=update`` merges;
- errors are ProblemDetails ``{type, title, detail}`` with non-uniform titles;
- an ``@context`` the broker cannot download is a 503 ``LdContextNotAvailable`` (retried, then
  :class:`~chronos_core.fiware.errors.FiwareUnavailable`);
- list pages are ``limit`` (at most 1000) / ``offset``; the subscription list tells no total.

Errors map to the exception tree of the v2 clients (:mod:`chronos_core.fiware.errors`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx
from typing_extensions import Unpack

from chronos_core.errors import InvalidInput
from chronos_core.fiware.client import BrokerClient, ClientOptions
from chronos_core.fiware.errors import FiwareHTTPError, RequestTarget
from chronos_core.fiware.http import segment
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings, get_settings

SERVICE_NAME = "Orion-LD"
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
LD_JSON = "application/ld+json"
RESULTS_COUNT = "ngsild-results-count"
ENTITIES = "/ngsi-ld/v1/entities"
SUBSCRIPTIONS = "/ngsi-ld/v1/subscriptions"
Representation = Literal["normalized", "keyValues", "concise"]
_FORBIDDEN_ID_CHARS = frozenset("<>\"' {}|\\^`")
_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,50}$")


def link_header(context_url: str) -> str:
    """The ``Link`` header that names a JSON-LD ``@context``."""
    return f'<{context_url}>; rel="{JSONLD_CONTEXT_REL}"; type="{LD_JSON}"'


def check_uri(value: str, what: str = "entity id") -> str:
    """An NGSI-LD id must be a URI: refuse what Orion-LD answers 400 to (no ':' or odd chars)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string")
    if ":" not in value:
        raise InvalidInput(f"{what} {value!r} is not a URI (NGSI-LD ids look like urn:ngsi-ld:T:x)")
    bad = sorted({c for c in value if c in _FORBIDDEN_ID_CHARS or ord(c) < 32})
    if bad:
        raise InvalidInput(f"{what} {value!r} contains characters a URI cannot hold: {bad}")
    return value


def ld_headers(tenant: Tenant | str | None, context: str | None) -> dict[str, str]:
    """``NGSILD-Tenant`` (unless the default tenant) and the ``Link`` to ``context`` (if any)."""
    name = tenant_name(tenant)
    headers = {"NGSILD-Tenant": name} if name is not None else {}
    return headers | ({"Link": link_header(context)} if context is not None else {})


def tenant_name(tenant: Tenant | str | None) -> str | None:
    """The ``NGSILD-Tenant`` of a Chronos tenant: its service (the service path has no
    NGSI-LD equivalent); None for the broker's default tenant."""
    name = tenant.service if isinstance(tenant, Tenant) else tenant
    if name is None or name == "":
        return None
    if not _TENANT.match(name):
        raise InvalidInput(f"invalid NGSI-LD tenant {name!r} (letters, digits, '_' and '-')")
    return name


class OrionLdClient(BrokerClient[Tenant | str | None]):
    """Entities and subscriptions of an NGSI-LD broker.

    ``context`` (default ``CHRONOS_NGSI_LD_CONTEXT_URL``) is the user ``@context`` sent with
    every request: in a ``Link`` header, or in an ``application/ld+json`` body when
    ``context_in_body`` (default ``CHRONOS_NGSI_LD_CONTEXT_IN_BODY``). Without one, only the
    core context applies and user terms expand to the broker's default vocabulary.
    """

    service_name = SERVICE_NAME
    service_key = "orion_ld"
    subscriptions_path = SUBSCRIPTIONS
    count_param = ("count", "true")
    total_header = RESULTS_COUNT
    subscriptions_counted = False

    def __init__(
        self,
        base_url: str | None = None,
        *,
        settings: Settings | None = None,
        context: str | None = None,
        context_in_body: bool | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        configured = settings or get_settings()
        super().__init__(base_url, settings=configured, **options)
        self.context = context if context is not None else configured.ngsi_ld_context_url
        self.context_in_body = (
            configured.ngsi_ld_context_in_body if context_in_body is None else context_in_body
        )

    # ------------------------------------------------------------------ helpers

    def _on(self, tenant: Tenant | str | None, *, link: bool = True) -> dict[str, Any]:
        return {"headers": ld_headers(tenant, self.context if link else None)}

    def _send(
        self, method: str, path: str, tenant: Tenant | str | None, body: Any, **options: Any
    ) -> httpx.Response:
        """A request with a JSON body, its ``@context`` in the body or in a Link header."""
        in_body = self.context is not None and self.context_in_body
        if in_body:
            contexts = [self.context, CORE_CONTEXT]
            if isinstance(body, list):
                body = [{**item, "@context": contexts} for item in body]
            else:
                body = {**body, "@context": contexts}
        return self._http.request(
            method,
            path,
            json=body,
            content_type=LD_JSON if in_body else "application/json",
            **self._on(tenant, link=not in_body),
            **options,
        )

    def _subscription_body(self, subscription: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "Subscription", **subscription}

    @staticmethod
    def _entity(entity: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(entity, Mapping):
            raise InvalidInput("an NGSI-LD entity must be a JSON object with id and type")
        entity_id, entity_type = entity.get("id"), entity.get("type")
        if not isinstance(entity_type, str) or not entity_type:
            raise InvalidInput("an NGSI-LD entity needs a string 'type'")
        check_uri(entity_id if isinstance(entity_id, str) else "")
        if "@context" in entity:
            raise InvalidInput("give the @context through the client, not inside the entity")
        return dict(entity)

    def get_entity(
        self,
        tenant: Tenant | str | None,
        entity_id: str,
        *,
        representation: Representation = "normalized",
    ) -> dict[str, Any]:
        """The entity, compacted with the client's context; 404 :class:`FiwareNotFound`."""
        return self._get(
            f"{ENTITIES}/{segment(check_uri(entity_id))}",
            "the entity",
            tenant,
            params=[("options", representation)] if representation != "normalized" else [],
            target=RequestTarget(entity_id=entity_id),
        )

    def upsert_entities(
        self,
        tenant: Tenant | str | None,
        entities: Sequence[Mapping[str, Any]],
        *,
        merge: bool = False,
    ) -> list[str]:
        """``POST /entityOperations/upsert``: create missing entities and **replace** existing
        ones (``merge=True``: ``options=update``, which keeps attributes not in the payload).
        Returns the ids the broker created; a 207 raises :class:`FiwareHTTPError`."""
        if not entities:
            raise InvalidInput("an upsert needs at least one entity")
        bodies = [self._entity(e) for e in entities]
        target = RequestTarget(entity_id=bodies[0]["id"], entity_type=bodies[0]["type"])
        response = self._send(
            "POST",
            "/ngsi-ld/v1/entityOperations/upsert",
            tenant,
            bodies,
            params=[("options", "update")] if merge else None,
            target=target if len(bodies) == 1 else None,
            idempotent=True,
        )
        if response.status_code == 207:
            raise self._batch_error(response, "upsert", target)
        if response.status_code == 204 or not response.content:
            return []
        created = self._http.json(response)
        if not isinstance(created, list):
            raise self._http.protocol_error(response, "the upsert answer is not an id array")
        return [str(i) for i in created]

    def upsert_entity(
        self, tenant: Tenant | str | None, entity: Mapping[str, Any], *, merge: bool = False
    ) -> bool:
        """Upsert one entity (replacing it unless ``merge``); True when the broker created it."""
        return bool(self.upsert_entities(tenant, [entity], merge=merge))

    def _batch_error(
        self, response: httpx.Response, what: str, target: RequestTarget | None
    ) -> FiwareHTTPError:
        body = self._http.json(response)
        errors = body.get("errors", []) if isinstance(body, dict) else []
        words = "; ".join(
            f"{e.get('entityId')}: {(e.get('error') or {}).get('title')}"
            for e in errors
            if isinstance(e, dict)
        )
        return FiwareHTTPError(
            f"{SERVICE_NAME} answered 207 to the {what}: {words or 'some entities failed'}",
            status=207,
            server_error="PartialSuccess",
            server_message=words or None,
            service=SERVICE_NAME,
            method=response.request.method,
            path=response.request.url.raw_path.decode("ascii", "replace"),
            target=target,
        )
