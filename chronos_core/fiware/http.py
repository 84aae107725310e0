"""The HTTP layer shared by the FIWARE clients: tenant headers, auth, timeouts, retries, errors.

Every request carries ``Fiware-Service`` and ``Fiware-ServicePath`` from a :class:`Tenant` and,
when configured, ``X-Auth-Token`` (never logged). Connection errors, timeouts, 5xx and 429 are
retried with exponential backoff for idempotent requests; a POST that may have been processed is
only retried when it certainly was not (connection refused, 429, 503). 4xx answers are raised at
once as typed errors naming the service, the request, what it was about and the server's words.
No ``Content-Type`` is ever sent without a body (Orion rejects a GET/DELETE that has one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from chronos_core.errors import InvalidInput
from chronos_core.fiware.connection import FiwareConnection, RetryPolicy
from chronos_core.fiware.errors import (
    FiwareConflict,
    FiwareHTTPError,
    FiwareNotFound,
    FiwareProtocolError,
    FiwareTimeout,
    FiwareUnavailable,
    RequestTarget,
    is_retryable_status,
)
from chronos_core.fiware.ngsi import dumps
from chronos_core.fiware.paging import ListPage, read_list_pages
from chronos_core.fiware.tenant import Tenant

logger = logging.getLogger("chronos.fiware")

#: The most entries Orion, Orion-LD and the IoT Agent give in one list page.
MAX_PAGE_SIZE = 1000
_IDEMPOTENT_METHODS = {"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}
_NOT_PROCESSED_STATUSES = {429, 503}
_MISSING: Any = object()


def _number_header(response: httpx.Response, name: str, kind: type[float] | type[int]) -> Any:
    try:
        return kind(response.headers[name])
    except (KeyError, ValueError):
        return None


def int_header(response: httpx.Response, name: str) -> int | None:
    """An integer header (``fiware-total-count``, ``ngsild-results-count``), None if absent or
    not a number."""
    return _number_header(response, name, int)


def segment(value: str) -> str:
    """Percent-encode one URL path segment (an entity id, a type, an attribute name)."""
    return quote(value, safe=":@-._~")


def server_words(response: httpx.Response) -> tuple[str | None, str | None]:
    """(error code, message) from an error body in any FIWARE format, or its text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None, (text[:300] if text else None)
    if not isinstance(body, dict):
        return None, str(body)[:300]
    if "title" in body and "error" not in body:  # NGSI-LD ProblemDetails (RFC 7807)
        return problem_words(body)
    error = body.get("error") or body.get("name")
    message = body.get("description") or body.get("message")
    return (None if error is None else str(error)), (None if message is None else str(message))


def problem_words(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(error type, "title: detail") of an NGSI-LD ProblemDetails body (Orion-LD's titles are
    not uniform)."""
    kind = body.get("type")
    error = str(kind).rstrip("/").rsplit("/", 1)[-1] if kind else None
    title = str(body.get("title") or "")
    detail = body.get("detail")
    message = f"{title}: {detail}" if title and detail is not None else title or None
    return error, message


def _about(target: RequestTarget | None) -> str:
    described = target.describe() if target is not None else ""
    return f" ({described})" if described else ""


class Closing:
    """A context manager that calls ``close()`` on exit."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class FiwareHTTP(Closing):
    """A synchronous httpx client for one FIWARE service (use as a context manager)."""

    def __init__(
        self,
        service: str,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        auth_token: SecretStr | str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        connection: FiwareConnection | None = None,
    ) -> None:
        """Either a whole ``connection`` or its parts (``base_url``, ``timeout``, ...)."""
        if connection is None:
            connection = FiwareConnection(
                base_url or "", timeout_seconds=timeout, retry=retry or RetryPolicy()
            ).replace(auth_token=auth_token)
        self.service = service
        self.connection = connection
        self.base_url = connection.base_url
        self.retry = connection.retry
        self._sleep = sleep or time.sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(connection.timeout_seconds),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "chronos"}
            | connection.headers(None),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        token = "set" if self.connection.auth_token is not None else "none"
        return f"FiwareHTTP(service={self.service!r}, base_url={self.base_url!r}, token={token})"

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path: str,
        *,
        tenant: Tenant | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = _MISSING,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        target: RequestTarget | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a request and return its 2xx response, or raise a :class:`FiwareError`."""
        method = method.upper()
        body = None if json is _MISSING else dumps(json).encode("utf-8")
        if method in ("GET", "DELETE", "HEAD") and (body is not None or content_type is not None):
            raise ValueError(f"{method} requests carry no body and no Content-Type")
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        sent_headers = tenant.headers() if tenant is not None else {}
        if body is not None:
            sent_headers["Content-Type"] = content_type or "application/json"
        request = self._client.build_request(
            method,
            path,
            params=list(params or ()),
            content=body,
            headers=sent_headers | dict(headers or {}),
        )
        shown = f"{path}?{request.url.query.decode('ascii', 'replace')}" if params else path
        attempts = self.retry.retries + 1
        for attempt in range(1, attempts + 1):
            last_status, retry_after, timed_out = None, None, False
            try:
                response = self._client.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                retryable, timed_out = True, isinstance(exc, httpx.ConnectTimeout)
                reason = f"cannot connect ({type(exc).__name__}: {exc})"
            except httpx.TimeoutException as exc:
                retryable, timed_out = idempotent, True
                reason = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                retryable = idempotent
                reason = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                status = response.status_code
                if response.is_success:
                    return response
                if not is_retryable_status(status) or not (
                    idempotent or status in _NOT_PROCESSED_STATUSES
                ):
                    raise self._http_error(response, method, shown, target)
                retryable, last_status = True, status
                message = server_words(response)[1]
                reason = f"answered {status}" + (f": {message}" if message else "")
                retry_after = _number_header(response, "retry-after", float)
            if not retryable or attempt == attempts:
                break
            wait = self.retry.delay(attempt, retry_after and max(0.0, retry_after))
            logger.warning(
                "%s %s %s failed (%s); retry %d of %d in %.2f s",
                self.service,
                method,
                shown,
                reason,
                attempt,
                self.retry.retries,
                wait,
            )
            if wait > 0:
                self._sleep(wait)
        raise (FiwareTimeout if timed_out else FiwareUnavailable)(
            f"{self.service} at {self.base_url} is unavailable: {method} {shown}{_about(target)} "
            f"failed after {attempt} attempt(s); last error: {reason}",
            attempts=attempt,
            last_status=last_status,
            service=self.service,
            method=method,
            path=shown,
            target=target,
        )

    def _http_error(
        self, response: httpx.Response, method: str, shown: str, target: RequestTarget | None
    ) -> FiwareHTTPError:
        status = response.status_code
        error, message = server_words(response)
        words = message or error or response.reason_phrase or "no details"
        kind = {404: FiwareNotFound, 409: FiwareConflict, 422: FiwareConflict}.get(
            status, FiwareHTTPError
        )
        return kind(
            f"{self.service} answered {status} to {method} {shown}{_about(target)}: {words}",
            status=status,
            server_error=error,
            server_message=message,
            service=self.service,
            method=method,
            path=shown,
            target=target,
        )

    def json(self, response: httpx.Response, *, target: RequestTarget | None = None) -> Any:
        """The response body as JSON, or a :class:`FiwareProtocolError`."""
        try:
            return response.json()
        except ValueError:
            snippet = response.content[:80]
            raise self.protocol_error(
                response,
                f"the body is not valid JSON ({len(response.content)} bytes, starts {snippet!r})",
                target,
            ) from None

    def protocol_error(
        self, response: httpx.Response, what: str, target: RequestTarget | None = None
    ) -> FiwareProtocolError:
        request = response.request
        path = request.url.raw_path.decode("ascii", "replace")
        return FiwareProtocolError(
            f"{self.service} sent an unexpected answer to {request.method} {path}"
            f"{_about(target)}: {what}",
            service=self.service,
            method=request.method,
            path=path,
            target=target,
        )

    # ------------------------------------------------------------------ shapes every client uses

    def get_object(self, path: str, what: str, **options: Any) -> dict[str, Any]:
        """GET ``path``; its body must be a JSON object (``what`` names it in the error)."""
        response = self.request("GET", path, **options)
        body = self.json(response, target=options.get("target"))
        if not isinstance(body, dict):
            raise self.protocol_error(
                response, f"{what} is not a JSON object", options.get("target")
            )
        return body

    def delete(self, path: str, *, missing_ok: bool = False, **options: Any) -> bool:
        """DELETE ``path``: True when deleted, False when missing and ``missing_ok`` (otherwise
        :class:`FiwareNotFound`)."""
        try:
            self.request("DELETE", path, **options)
        except FiwareNotFound:
            if missing_ok:
                return False
            raise
        return True

    def created_id(self, response: httpx.Response, prefix: str) -> str:
        """The id at the end of a creation answer's ``Location`` (``{prefix}/{id}``)."""
        location = response.headers.get("location", "")
        created = location.rstrip("/").rsplit("/", 1)[-1]
        if not location.startswith(f"{prefix}/") or not created:
            raise self.protocol_error(response, f"no id in the Location header ({location!r})")
        return created

    def read_list(
        self,
        path: str,
        *,
        page_size: int,
        limit: int | None = None,
        params: Sequence[tuple[str, str]] = (),
        total_header: str | None = None,
        key: str | None = None,
        short_page_ends: bool = False,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Every entry of a ``limit``/``offset`` list (or the first ``limit``). The page is the
        body, or its ``key`` member with the total in ``count`` (the IoT Agent); otherwise the
        total comes from ``total_header``."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if limit is not None and limit < 0:
            raise InvalidInput("limit must be >= 0")

        def fetch(offset: int, size: int) -> ListPage:
            query = [*params, ("limit", str(size)), ("offset", str(offset))]
            response = self.request("GET", path, params=query, **options)
            body = self.json(response)
            page = body.get(key) if key is not None and isinstance(body, dict) else body
            if not isinstance(page, list):
                what = "the list is not an array" if key is None else f"no '{key}' array"
                raise self.protocol_error(response, what)
            total = int_header(response, total_header) if total_header else None
            if key is not None and type(body.get("count")) is int:
                total = body["count"]  # the total whatever the page
            return ListPage([item for item in page if isinstance(item, dict)], len(page), total)

        return read_list_pages(fetch, page_size, limit=limit, short_page_ends=short_page_ends)
