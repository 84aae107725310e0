"""Fault injection: make an emulated service misbehave for the next matching requests.

Faults are consumed in order, one per matching request::

    sandbox.sth.inject_faults(Fault.server_error(503), Fault.delay(2.0))
    sandbox.sth.inject_faults(Fault.server_error(500), repeat=10, path_contains="/STH/")
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

import httpx

from fiware_sandbox.wire import respond

FaultKind = Literal[
    "status", "delay", "hang", "drop", "apply_then_drop", "truncate", "body", "short_page"
]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour. Build it with the class methods."""

    kind: FaultKind
    status: int = 500
    body: bytes = b""
    content_type: str | None = None
    seconds: float = 0.0
    limit: int = 0
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def server_error(
        cls, status: int = 500, body: bytes | None = None, *, retry_after: float | None = None
    ) -> Fault:
        """Answer ``status`` (5xx or 429) with a small JSON error body (and Retry-After)."""
        payload = (
            body if body is not None else b'{"error":"InternalError","description":"injected"}'
        )
        headers = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
        return cls(
            "status", status=status, body=payload, content_type="application/json", headers=headers
        )

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally (a client with a shorter timeout fails)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Never answer: keep the connection open ``seconds`` then close it without a response."""
        return cls("hang", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without sending a status line."""
        return cls("drop")

    @classmethod
    def apply_then_drop(cls) -> Fault:
        """Carry the request out, then close the connection without answering (the client
        cannot tell whether it was applied: a lost answer after a timeout looks the same)."""
        return cls("apply_then_drop")

    @classmethod
    def truncated_body(cls) -> Fault:
        """Answer normally but cut the body in half and close (Content-Length is not honoured)."""
        return cls("truncate")

    @classmethod
    def raw_body(
        cls, body: bytes, status: int = 200, content_type: str = "application/json; charset=utf-8"
    ) -> Fault:
        """Answer ``status`` with exactly ``body`` (e.g. non-JSON or truncated JSON)."""
        return cls("body", status=status, body=body, content_type=content_type)

    @classmethod
    def short_page(cls, limit: int) -> Fault:
        """STH-Comet only: return at most ``limit`` raw points, whatever was asked."""
        return cls("short_page", limit=limit)

    def response(self) -> httpx.Response:
        """The response for faults that replace the real answer."""
        if self.kind == "hang":
            return respond(0, action="hang", hang_seconds=self.seconds)
        if self.kind == "drop":
            return respond(0, action="drop")
        headers = [("Content-Type", self.content_type)] if self.content_type else []
        return respond(self.status, [*headers, *self.headers], self.body)


@dataclass(frozen=True)
class _Armed:
    fault: Fault
    method: str | None
    path_contains: str | None

    def matches(self, request: httpx.Request) -> bool:
        if self.method is not None and request.method != self.method.upper():
            return False
        return self.path_contains is None or self.path_contains in request.url.path


class FaultInjector:
    """A thread-safe queue of faults; each matching request takes the first matching one."""

    def __init__(self) -> None:
        self._queue: deque[_Armed] = deque()
        self._lock = threading.Lock()

    def inject(
        self,
        *faults: Fault,
        repeat: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        with self._lock:
            for _ in range(repeat):
                for fault in faults:
                    self._queue.append(_Armed(fault, method, path_contains))

    def take(self, request: httpx.Request) -> Fault | None:
        with self._lock:
            for armed in self._queue:
                if armed.matches(request):
                    self._queue.remove(armed)
                    return armed.fault
        return None

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
