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
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from chronos_core.fiware.connection import FiwareConnection, RetryPolicy
from chronos_core.fiware.errors import (
    FiwareConflict,
    FiwareHTTPError,
    FiwareNotFound,
    FiwareProtocolError,
    FiwareTimeout,
    FiwareUnavailable,
    RequestTarget,
)
from chronos_core.fiware.ngsi import dumps
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings

logger = logging.getLogger("chronos.fiware")

_BODYLESS_METHODS = {"GET", "DELETE", "HEAD"}
_IDEMPOTENT_METHODS = {"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}
_NOT_PROCESSED_STATUSES = {429, 503}
_MISSING: Any = object()


def int_header(response: httpx.Response, name: str) -> int | None:
    """An integer header (``fiware-total-count``, ``ngsild-results-count``), None if absent or
    not a number."""
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def segment(value: str) -> str:
    """Percent-encode one URL path segment (an entity id, a type, an attribute name)."""
    return quote(value, safe=":@-._~")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def server_words(response: httpx.Response) -> tuple[str | None, str | None]:
    """(error code, message) from an error body in any FIWARE format, or its text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None, (text[:300] if text else None)
    if isinstance(body, dict):
        if "title" in body and "error" not in body:  # NGSI-LD ProblemDetails (RFC 7807)
            return problem_words(body)
        error = body.get("error") or body.get("name")
        message = body.get("description") or body.get("message")
        return (
            str(error) if error is not None else None,
            str(message) if message is not None else None,
        )
    return None, str(body)[:300]


def problem_words(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(error type, "title: detail") of an NGSI-LD ProblemDetails body. Orion-LD's titles are
    not uniform and one 404 (unknown attribute) has no type or detail, only ``attributes``."""
    kind = body.get("type")
    error = str(kind).rstrip("/").rsplit("/", 1)[-1] if kind else None
    title = str(body.get("title") or "")
    detail = body.get("detail")
    if detail is None and isinstance(body.get("attributes"), list):
        detail = ", ".join(str(name) for name in body["attributes"])
    message = f"{title}: {detail}" if title and detail is not None else title or None
    return error, message


class FiwareHTTP:
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
        sleep: Callable[[float], None] = time.sleep,
        connection: FiwareConnection | None = None,
    ) -> None:
        """Either a whole ``connection`` or its parts (``base_url``, ``timeout``, ...)."""
        if connection is None:
            if base_url is None or not base_url.startswith(("http://", "https://")):
                raise ValueError(
                    f"{service} URL must start with http:// or https://, got {base_url!r}"
                )
            if timeout <= 0:
                raise ValueError("timeout must be positive")
            token = SecretStr(auth_token) if isinstance(auth_token, str) else auth_token
            connection = FiwareConnection(
                base_url, auth_token=token, timeout_seconds=timeout, retry=retry or RetryPolicy()
            )
        self.service = service
        self.connection = connection
        self.base_url = connection.base_url
        self.retry = connection.retry
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(connection.timeout_seconds),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "chronos"},
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls,
        service: str,
        base_url: str,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> FiwareHTTP:
        connection = FiwareConnection.from_settings(settings, "orion", base_url=base_url)
        return cls(service, connection=connection, transport=transport)

    def __repr__(self) -> str:
        token = "set" if self.connection.auth_token is not None else "none"
        return f"FiwareHTTP(service={self.service!r}, base_url={self.base_url!r}, token={token})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> FiwareHTTP:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def _headers(
        self, tenant: Tenant | None, content_type: str | None, extra: Mapping[str, str] | None
    ) -> dict[str, str]:
        headers = self.connection.headers(tenant)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if extra:
            headers.update(extra)
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        tenant: Tenant | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = _MISSING,
        content: str | bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        target: RequestTarget | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a request and return its 2xx response, or raise a :class:`FiwareError`."""
        method = method.upper()
        body: bytes | None = None
        if json is not _MISSING:
            body = dumps(json).encode("utf-8")
            content_type = content_type or "application/json"
        elif content is not None:
            body = content.encode("utf-8") if isinstance(content, str) else content
        if method in _BODYLESS_METHODS and (body is not None or content_type is not None):
            raise ValueError(f"{method} requests carry no body and no Content-Type")
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        request_headers = self._headers(tenant, content_type if body is not None else None, headers)
        attempts = self.retry.retries + 1
        shown = path
        last_reason = ""
        last_status: int | None = None
        timed_out = False
        for attempt in range(1, attempts + 1):
            request = self._client.build_request(
                method, path, params=list(params or ()), headers=request_headers, content=body
            )
            if params:
                shown = f"{path}?{request.url.query.decode('ascii', 'replace')}"
            retry_after: float | None = None
            try:
                response = self._client.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                retryable = True
                timed_out = isinstance(exc, httpx.ConnectTimeout)
                last_reason, last_status = f"cannot connect ({exc.__class__.__name__}: {exc})", None
            except httpx.TimeoutException as exc:
                retryable = idempotent
                timed_out = True
                last_reason, last_status = f"timed out ({exc.__class__.__name__})", None
            except httpx.TransportError as exc:
                retryable = idempotent
                timed_out = False
                last_reason, last_status = (
                    f"connection failed ({exc.__class__.__name__}: {exc})",
                    None,
                )
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                if (status >= 500 and status != 501) or status == 429:
                    retryable = idempotent or status in _NOT_PROCESSED_STATUSES
                    timed_out = False
                    _, message = server_words(response)
                    last_status = status
                    last_reason = f"answered {status}" + (f": {message}" if message else "")
                    retry_after = _retry_after(response)
                    if not retryable:
                        raise self._http_error(response, method, shown, target)
                else:
                    raise self._http_error(response, method, shown, target)
            if not retryable or attempt == attempts:
                break
            wait = self.retry.delay(attempt, retry_after)
            logger.warning(
                "%s %s %s failed (%s); retry %d of %d in %.2f s",
                self.service,
                method,
                shown,
                last_reason,
                attempt,
                self.retry.retries,
                wait,
            )
            if wait > 0:
                self._sleep(wait)
        about = f" ({target.describe()})" if target is not None and target.describe() else ""
        error_type = FiwareTimeout if timed_out else FiwareUnavailable
        raise error_type(
            f"{self.service} at {self.base_url} is unavailable: {method} {shown}{about} failed "
            f"after {attempt} attempt(s); last error: {last_reason}",
            attempts=attempt,
            last_status=last_status,
            service=self.service,
            method=method,
            path=shown,
            target=target,
        )

    def _http_error(
        self,
        response: httpx.Response,
        method: str,
        shown: str,
        target: RequestTarget | None,
    ) -> FiwareHTTPError:
        status = response.status_code
        error, message = server_words(response)
        about = f" ({target.describe()})" if target is not None and target.describe() else ""
        words = message or error or response.reason_phrase or "no details"
        text = f"{self.service} answered {status} to {method} {shown}{about}: {words}"
        error_type: type[FiwareHTTPError] = FiwareHTTPError
        if status == 404:
            error_type = FiwareNotFound
        elif status in (409, 422):
            error_type = FiwareConflict
        return error_type(
            text,
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
        about = f" ({target.describe()})" if target is not None and target.describe() else ""
        return FiwareProtocolError(
            f"{self.service} sent an unexpected answer to {request.method} {path}{about}: {what}",
            service=self.service,
            method=request.method,
            path=path,
            target=target,
        )
