"""A small route table: method and path template to handler, matched segment by segment.

Templates are written like ``/STH/v2/entities/{entity_id}/attrs/{attribute}``; a ``{name}``
matches one percent-decoded path segment (so an encoded ``%2F`` stays inside its segment) and is
passed to the handler as a keyword argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fiware_sandbox.wire import path_segments

Handler = Callable[..., httpx.Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: tuple[str, ...]
    handler: Handler

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        if method != self.method or len(segments) != len(self.template):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.template, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


class Router:
    """The first route whose method and template match a request answers it."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        self._routes.append(Route(method.upper(), tuple(template.split("/")[1:]), handler))

    def dispatch(self, request: httpx.Request, **context: Any) -> httpx.Response | None:
        """The matched handler's answer (called with the path parameters and ``context``);
        None when no route matches."""
        segments = path_segments(request)
        for route in self._routes:
            params = route.match(request.method, segments)
            if params is not None:
                return route.handler(request, **params, **context)
        return None
