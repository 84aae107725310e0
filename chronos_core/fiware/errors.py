"""Errors of the FIWARE clients. All are :class:`chronos_core.errors.ExternalServiceError`.

- :class:`FiwareHTTPError`: the service answered with an error status (4xx, or 5xx/429 that
  is not retried); :class:`FiwareNotFound` (404) and :class:`FiwareConflict` (409, 422) are also
  :class:`~chronos_core.errors.NotFound` and :class:`~chronos_core.errors.Conflict`.
- :class:`FiwareUnavailable`: connection errors, timeouts, 5xx or 429 outlasted the retry budget
  (:class:`FiwareTimeout` when the last attempt timed out).
- :class:`FiwareProtocolError`: an answer that is not what the API promises (non-JSON, truncated,
  wrong shape, missing header).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chronos_core.errors import Conflict, ExternalServiceError, NotFound


@dataclass(frozen=True)
class RequestTarget:
    """What a request was about, for error messages (all optional)."""

    entity_id: str | None = None
    entity_type: str | None = None
    attribute: str | None = None
    subscription_id: str | None = None
    device_id: str | None = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.entity_id is not None:
            entity = f"entity {self.entity_id!r}"
            if self.entity_type is not None:
                entity += f" of type {self.entity_type!r}"
            parts.append(entity)
        elif self.entity_type is not None:
            parts.append(f"entity type {self.entity_type!r}")
        if self.attribute is not None:
            parts.append(f"attribute {self.attribute!r}")
        if self.subscription_id is not None:
            parts.append(f"subscription {self.subscription_id!r}")
        if self.device_id is not None:
            parts.append(f"device {self.device_id!r}")
        return ", ".join(parts)

    def as_details(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class FiwareError(ExternalServiceError):
    """A FIWARE service failed. ``service`` is e.g. "STH-Comet"; ``method``/``path`` the request."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        method: str,
        path: str,
        target: RequestTarget | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = {"service": service, "method": method, "path": path}
        if target is not None:
            merged.update(target.as_details())
        merged.update(details or {})
        super().__init__(message, details=merged)
        self.service = service
        self.method = method
        self.path = path
        self.target = target or RequestTarget()


class FiwareHTTPError(FiwareError):
    """The service answered ``status``; ``server_error`` / ``server_message`` are its own words.

    ``where`` is :class:`FiwareError`'s ``service``, ``method``, ``path`` and ``target``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        server_error: str | None,
        server_message: str | None,
        **where: Any,
    ) -> None:
        details = {"status": status, "server_error": server_error, "server_message": server_message}
        super().__init__(message, details=details, **where)
        self.status = status
        self.server_error = server_error
        self.server_message = server_message


class FiwareNotFound(FiwareHTTPError, NotFound):
    """404: the entity, attribute, subscription, device or group does not exist."""


class FiwareConflict(FiwareHTTPError, Conflict):
    """409 or 422: e.g. the entity, device or group already exists."""


class FiwareUnavailable(FiwareError):
    """The service could not be reached or kept failing (5xx/429) for every attempt."""

    def __init__(self, message: str, *, attempts: int, last_status: int | None, **where: Any):
        super().__init__(
            message, details={"attempts": attempts, "last_status": last_status}, **where
        )
        self.attempts = attempts
        self.last_status = last_status


class FiwareTimeout(FiwareUnavailable):
    """The last attempt timed out."""


class FiwareProtocolError(FiwareError):
    """The answer does not follow the service's API (not JSON, truncated, unexpected shape)."""


def is_retryable_status(status: int) -> bool:
    """5xx (except 501 Not Implemented) and 429: the same request may succeed later."""
    return (status >= 500 and status != 501) or status == 429


def is_transient_error(error: BaseException | None) -> bool:
    """Worth another attempt later: a FIWARE service (or the database) was unreachable or
    failing; not a 4xx answer or a bad payload, which would fail the same way again."""
    if isinstance(error, FiwareHTTPError):
        return is_retryable_status(error.status)
    return isinstance(error, ExternalServiceError)
