"""What the sandbox Orion-LD and its temporal part share: contexts, errors, stored entities.

Terms are expanded the way Orion-LD does: the core context wins (``name`` is a core term), then
the request's user context, then the core ``@vocab`` (the default context). Compaction is the
reverse; an IRI no context knows stays an IRI. Sub-attributes (``observedAt``, ``unitCode``) are
core terms and are kept as given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from fiware_sandbox.wire import iso_ms, json_bytes, parse_date_ms, respond

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
CORE_PREFIX = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
JSON_TYPE = "application/json"
LD_JSON = "application/ld+json"
LINK_SUFFIX = '; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
#: Attribute-level terms of the core context (entity types have none).
CORE_TERMS = {
    name: CORE_PREFIX + name
    for name in (
        "name",
        "description",
        "location",
        "observationSpace",
        "operationSpace",
        "datasetId",
        "instanceId",
        "unitCode",
        "observedAt",
        "createdAt",
        "modifiedAt",
    )
}
_CORE_INVERSE = {iri: term for term, iri in CORE_TERMS.items()}


class LdError(Exception):
    """An NGSI-LD error answer: a ProblemDetails body (or a recorded non-standard one)."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        *,
        body: dict[str, Any] | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(title)
        self.status = status
        self.body: dict[str, Any] = body or {"type": ERRORS + kind, "title": title}
        if body is None and detail is not None:
            self.body["detail"] = detail
        self.headers = list(headers)

    def response(self) -> httpx.Response:
        headers = [*self.headers, ("Content-Type", JSON_TYPE)]
        return respond(self.status, headers, json_bytes(self.body))


def bad_request(title: str, detail: str | None = None) -> LdError:
    return LdError(400, "BadRequestData", title, detail)


def not_found(title: str, detail: str) -> LdError:
    return LdError(404, "ResourceNotFound", title, detail)


def link_value(url: str) -> str:
    return f"<{url}>{LINK_SUFFIX}"


def link_url(header: str | None) -> str | None:
    """The context URL of a ``Link`` header (``<url>; rel=...``), or None."""
    if not header:
        return None
    text = header.strip()
    if text.startswith("<") and ">" in text:
        return text[1 : text.index(">")]
    return None


def check_uri(value: Any, detail: str) -> str:
    """An id must be a URI (Orion-LD: no ':' or a forbidden character is a 400)."""
    if not isinstance(value, str) or ":" not in value:
        raise bad_request("Invalid URI - no colon found", detail)
    if any(c in "<>\"' {}|\\^`" or ord(c) < 32 for c in value):
        raise bad_request("Invalid URI - invalid character", detail)
    return value


def normalize_datetime(value: Any, what: str) -> str:
    millis = parse_date_ms(value) if isinstance(value, str) else None
    if millis is None:
        raise bad_request("Invalid DateTime", what)
    return iso_ms(millis)


# --------------------------------------------------------------------------- contexts


@dataclass
class Context:
    """A resolved user context: term -> IRI (and its inverse); ``url`` names it in answers."""

    url: str
    terms: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._inverse = {iri: term for term, iri in self.terms.items()}

    def expand(self, term: str) -> str:
        if "://" in term or term.startswith("urn:"):
            return term
        if term in CORE_TERMS:
            return CORE_TERMS[term]
        if term in self.terms:
            return self.terms[term]
        return DEFAULT_VOCAB + term

    def compact(self, iri: str) -> str:
        if iri in _CORE_INVERSE:
            return _CORE_INVERSE[iri]
        if iri in self._inverse:
            return self._inverse[iri]
        if iri.startswith(DEFAULT_VOCAB):
            return iri[len(DEFAULT_VOCAB) :]
        return iri


CORE = Context(CORE_CONTEXT)


class ContextLoader:
    """Downloads user contexts once and caches them (as Orion-LD does).

    ``register`` serves a context in-process (no socket); other URLs are fetched over HTTP
    with ``Accept: application/ld+json``. A URL that cannot be fetched is a 503
    ``LdContextNotAvailable``.
    """

    def __init__(self, timeout: float = 2.0) -> None:
        self._timeout = timeout
        self._documents: dict[str, Any] = {}
        self._cache: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self.fetch: Callable[[str], Any] = self._download

    def register(self, url: str, document: Any) -> None:
        with self._lock:
            self._documents[url] = document
            self._cache.pop(url, None)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _download(self, url: str) -> Any:
        with self._lock:
            if url in self._documents:
                return self._documents[url]
        with httpx.Client(timeout=self._timeout) as client:
            answer = client.get(url, headers={"Accept": LD_JSON})
        answer.raise_for_status()
        return answer.json()

    def terms(self, url: str, depth: int = 0) -> dict[str, str]:
        if url == CORE_CONTEXT or url.startswith(CORE_PREFIX):
            return {}
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None:
            return cached
        try:
            document = self.fetch(url)
        except (httpx.HTTPError, ValueError) as exc:
            raise LdError(503, "LdContextNotAvailable", "Unable to download context", url) from exc
        if not isinstance(document, dict) or "@context" not in document:
            raise LdError(503, "LdContextNotAvailable", "Invalid context document", url)
        terms = self.inline(document["@context"], depth + 1)
        with self._lock:
            self._cache[url] = terms
        return terms

    def inline(self, value: Any, depth: int = 0) -> dict[str, str]:
        """Terms of an ``@context`` value: a URL, an object or a list of them."""
        if depth > 5:
            raise bad_request("Context nesting too deep")
        if isinstance(value, str):
            return self.terms(value, depth)
        if isinstance(value, list):
            merged: dict[str, str] = {}
            for item in value:
                merged.update(self.inline(item, depth))
            return merged
        if isinstance(value, dict):
            terms: dict[str, str] = {}
            for term, iri in value.items():
                if term.startswith("@"):
                    continue
                if isinstance(iri, dict):
                    iri = iri.get("@id")
                if isinstance(iri, str):
                    terms[term] = iri
            return terms
        raise bad_request("Invalid @context", "not a string, array or object")

    def resolve(self, value: Any) -> Context:
        """The request context: ``value`` is a Link URL or a body ``@context`` (or None)."""
        if value is None:
            return CORE
        url = value if isinstance(value, str) else _first_url(value) or CORE_CONTEXT
        return Context(url, self.inline(value))


def _first_url(value: Any) -> str | None:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                return item
    return None


# --------------------------------------------------------------------------- entities


@dataclass
class LdEntity:
    """A stored entity: expanded type and attribute names, attributes as given (type first)."""

    id: str
    type: str
    created_at: int
    modified_at: int
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Instance:
    """One value of an attribute in time (what TRoE writes, what the temporal API reads)."""

    value: Any
    observed_at: int
    kind: str = "Property"
    unit_code: str | None = None


@dataclass
class LdTenant:
    entities: dict[str, LdEntity] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: entity id -> (expanded type, expanded attribute -> instances in time order)
    history: dict[str, tuple[str, dict[str, list[Instance]]]] = field(default_factory=dict)


def render_attribute(stored: Mapping[str, Any], representation: str, sys_attrs: bool) -> Any:
    """A stored attribute as normalized, keyValues or concise JSON."""
    kind = stored.get("type", "Property")
    if representation == "keyValues":
        return stored.get("object") if kind == "Relationship" else stored.get("value")
    members = {k: v for k, v in stored.items() if k not in ("type", "createdAt", "modifiedAt")}
    if representation == "concise":
        if list(members) == ["value"]:
            return members["value"]
        return members
    out: dict[str, Any] = {"type": kind}
    if sys_attrs:
        out["createdAt"] = iso_ms(stored["createdAt"])
        out["modifiedAt"] = iso_ms(stored["modifiedAt"])
    out.update(members)
    return out


def parse_request_json(request: httpx.Request) -> tuple[Any, str]:
    """(body, content type) of a request with a JSON body, with Orion-LD's checks."""
    from fiware_sandbox.wire import InvalidJSON, parse_json

    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in (JSON_TYPE, LD_JSON):
        raise LdError(
            415,
            "BadRequestData",
            "unsupported format of payload",
            "only application/json and application/ld+json are supported",
        )
    try:
        body = parse_json(request.content)
    except InvalidJSON:
        raise LdError(400, "InvalidRequest", "JSON Parse Error", "Invalid JSON payload") from None
    return body, content_type
